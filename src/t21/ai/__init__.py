"""AI content: generating, improving and tagging posts through OpenRouter, in a brand's voice."""
