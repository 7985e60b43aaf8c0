# What every server gets (recipes/base.yml).
Feature: Every server says who manages it and what it is for

  Scenario: the message of the day names the manager
    Then the file "/etc/motd" should contain "managed by redgreen for Example Ltd"
    And the file "/etc/motd" should have mode "0644"
    And the file "/etc/motd" should be owned by "root"

  # A test host answers to its entry's name too (web-debian-12 to @host:web).
  @host:web
  Scenario: the server knows its groups
    Then the directory "/etc/redgreen" should have mode "0755"
    And the file "/etc/redgreen/role" should match "^web$"
