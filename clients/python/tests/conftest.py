# The plugin's own tests run inner pytest sessions to see what happens between two tests.
pytest_plugins = ["pytester"]
