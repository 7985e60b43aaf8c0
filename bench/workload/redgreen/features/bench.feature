# 40 checks per host: the same as ../testinfra/test_bench.py.
Feature: The benchmark's workload

  Scenario: The deploy account
    Then the group "app" should exist
    And the user "deploy" should exist
    And the user "deploy" should have shell "/bin/bash"
    And the user "deploy" should have home "/home/deploy"
    And the user "deploy" should be in group "app"

  Scenario: The directories
    Then the directory "/srv/bench" should have mode "0750"
    And the directory "/srv/bench" should be owned by "deploy"
    Then the directory "/srv/bench/files" should have mode "0750"
    And the directory "/srv/bench/files" should be owned by "deploy"
    Then the directory "/srv/bench/releases" should have mode "0750"
    And the directory "/srv/bench/releases" should be owned by "deploy"
    Then the directory "/srv/bench/releases/v1" should have mode "0750"
    And the directory "/srv/bench/releases/v1" should be owned by "deploy"
    Then the directory "/srv/bench/logs" should have mode "0750"
    And the directory "/srv/bench/logs" should be owned by "deploy"
    Then the directory "/srv/bench/run" should have mode "0750"
    And the directory "/srv/bench/run" should be owned by "deploy"

  Scenario: The files
    Then the file "/srv/bench/files/f01.conf" should contain "setting 01"
    Then the file "/srv/bench/files/f02.conf" should contain "setting 02"
    Then the file "/srv/bench/files/f03.conf" should contain "setting 03"
    Then the file "/srv/bench/files/f04.conf" should contain "setting 04"
    Then the file "/srv/bench/files/f05.conf" should contain "setting 05"
    Then the file "/srv/bench/files/f06.conf" should contain "setting 06"
    Then the file "/srv/bench/files/f07.conf" should contain "setting 07"
    Then the file "/srv/bench/files/f08.conf" should contain "setting 08"
    Then the file "/srv/bench/files/f09.conf" should contain "setting 09"
    Then the file "/srv/bench/files/f10.conf" should contain "setting 10"
    And the file "/srv/bench/files/f01.conf" should have mode "0640"
    And the file "/srv/bench/files/f02.conf" should have mode "0640"
    And the file "/srv/bench/files/f03.conf" should have mode "0640"
    And the file "/srv/bench/files/f04.conf" should have mode "0640"
    And the file "/srv/bench/files/f05.conf" should have mode "0640"

  Scenario: The rest
    Then the file "/etc/motd" should match "^Welcome to h[0-9]+ \(bench\)$"
    And the file "/etc/bench.conf" should contain "alpha = 1"
    And the file "/etc/bench.conf" should contain "beta = 2"
    And the file "/etc/bench.conf" should contain "gamma = 3"
    And the symlink "/srv/bench/current" should point to "/srv/bench/releases/v1"
    And the file "/srv/bench/.initialized" should exist
    And the package "procps" should be installed
    And the process "sshd" should be running
