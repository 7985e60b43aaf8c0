Feature: a small server, whichever the init and the package manager

  # The hosts of the Debian family (apt), whichever their init.
  @host:box-debian11 @host:box-debian12 @host:box-debian13 @host:box-openrc @host:box-sysvinit
  Scenario: cron runs and starts at boot
    Then the package "cron" should be installed
    And the service "cron" should be running
    And the service "cron" should be enabled
    And the crontab of "deploy" should contain "/bin/true"

  @host:box-dnf
  Scenario: the daemon from the dnf repository runs and starts at boot
    Then the package "rg-daemon" should be installed
    And the service "rg-daemon" should be running
    And the service "rg-daemon" should be enabled

  Scenario: a user, its group, and a file
    Then the user "deploy" should exist
    And the group "deployers" should exist
    And the user "deploy" should be in group "deployers"
    And the file "/etc/motd" should contain "managed by redgreen"
