Feature: the tools are installed, whichever the package manager

  Scenario: the tools
    Then the package "rg-hello" should be installed
    And the package "rg-extra" should be installed
    And the package "rg-tool" should be installed at version "1.0-1"

  @host:tools-dnf @host:tools-zypper
  Scenario: a package from the extra repository
    Then the package "rg-more" should be installed at version "2.0-1"

  Scenario: the account that uses them
    Then the user "builder" should be in group "builders"
