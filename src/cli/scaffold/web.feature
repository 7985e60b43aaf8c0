# How the web server must behave. Written first: `redgreen test` shows it
# red on a fresh test host, converges the recipes, and shows it green.
@group:web
Feature: The web server serves the site

  Scenario: nginx is installed and running
    Then the package "nginx-light" should be installed
    And the service "nginx" should be running within 10 seconds
    And the service "nginx" should be enabled
    And port 80 should be listening

  Scenario: the site answers with its greeting
    Then "http://localhost/" should respond with status 200
    And "http://localhost/" should respond with a body containing "Hello from redgreen" within 5 seconds

  Scenario: the site's files belong to the web server
    Then the directory "/srv/www" should be owned by "www-data"
    And the file "/srv/www/index.html" should have mode "0644"
