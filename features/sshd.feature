# A hardened sshd (recipes/sshd.yml).
@group:web
Feature: sshd takes keys only

  Scenario Outline: sshd_config says <setting>
    Then the file "/etc/ssh/sshd_config" should match "^<setting>$"

    Examples:
      | setting                           |
      | PermitRootLogin prohibit-password |
      | PasswordAuthentication no         |
      | X11Forwarding no                  |
      | MaxAuthTries 3                    |

  Scenario: sshd runs with the hardened settings
    When I run "sshd -T"
    Then the output should contain "passwordauthentication no"
    And the output should contain "maxauthtries 3"
    And the service "ssh" should be running
    And port 22 should be listening
