# nginx serving a static site (recipes/webserver.yml).
@group:web
Feature: The web site is served

  Scenario: nginx is installed and running
    Then the package "nginx-light" should be installed
    And the service "nginx" should be running within 10 seconds
    And the service "nginx" should be enabled
    And port 80 should be listening

  # nginx reloads in the background (its handler returns once the signal is
  # sent): the old workers may answer for a moment after the converge.
  Scenario: the site answers
    Then "http://localhost/" should respond with status 200
    And "http://localhost/" should respond with a body containing "Welcome to redgreen's example site" within 5 seconds

  Scenario: its files belong to the web server
    Then the directory "/srv/www" should be owned by "www-data"
    And the directory "/srv/www" should have mode "0755"
    And the file "/srv/www/index.html" should contain "<h1>Welcome"
    And the symlink "/srv/current" should point to "/srv/www"

  Scenario: the server is configured for the site
    Then the file "/etc/nginx/sites-enabled/default" should contain:
      """
      listen 80 default_server;
      server_name web.test;
      """
