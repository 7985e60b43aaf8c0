# A deploy user (recipes/deploy.yml).
@group:web
Feature: Deploys log in as deploy, with a key

  Scenario: the deploy user exists with its key
    Then the user "deploy" should exist
    And the user "deploy" should have shell "/bin/bash"
    And the user "deploy" should be in group "www-data"
    And the file "/home/deploy/.ssh/authorized_keys" should contain "deploy@example"
    And the file "/home/deploy/.ssh/authorized_keys" should have mode "0600"

  Scenario: deploy may reload nginx, and nothing else as root
    When I run "sudo -l -U deploy"
    Then the output should contain "NOPASSWD: /usr/bin/systemctl reload nginx"
    And the output should not contain "(ALL) ALL"
