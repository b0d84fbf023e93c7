"""The media library: uploads sniffed, measured and stored locally or in S3-compatible storage."""
