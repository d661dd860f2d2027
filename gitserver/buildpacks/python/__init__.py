"""The Python buildpack: Heroku's Python support on the heroku-24 and cedar-14 stacks."""
