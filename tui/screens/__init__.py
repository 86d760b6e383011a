"""The app's screens: browse, run, results, countries, demo (one module each)."""
