"""Built-in plugins, registered with the plugin manager exactly like third-party ones."""
