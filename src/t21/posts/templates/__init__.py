"""Post templates: reusable text with `{{ variables }}`, rendered without running anything."""
