# A static web site (recipes/webserver.yml).
@group:web
Feature: The web site is in place

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
