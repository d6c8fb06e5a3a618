"""The registry side: finding the latest complete snapshot version, reading and validating it."""
