"""The social networks T21 publishes to, one module each behind `base.Provider`."""
