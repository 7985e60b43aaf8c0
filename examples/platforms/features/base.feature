Feature: a small server, whichever the init

  Scenario: cron runs and starts at boot
    Then the package "cron" should be installed
    And the service "cron" should be running
    And the service "cron" should be enabled

  Scenario: a user and a file
    Then the user "deploy" should exist
    And the file "/etc/motd" should contain "managed by redgreen"
