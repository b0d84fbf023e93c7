"""The sandbox: local fakes of the outside world (email API, and later the social networks,
OpenRouter and Stripe), served on loopback so every flow runs offline through the real adapters."""
