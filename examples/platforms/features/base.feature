Feature: a small server, whichever the init

  Scenario: cron runs and starts at boot
    Then the package "cron" should be installed
    And the service "cron" should be running
    And the service "cron" should be enabled

  Scenario: a user, its group and its crontab, and a file
    Then the user "deploy" should exist
    And the group "deployers" should exist
    And the user "deploy" should be in group "deployers"
    And the crontab of "deploy" should contain "/bin/true"
    And the file "/etc/motd" should contain "managed by redgreen"
