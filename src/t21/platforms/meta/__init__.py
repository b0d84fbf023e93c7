"""What Meta's Graph networks (Instagram, Threads) share: calling a Graph host (`graph`),
classifying its failures (`errors`), publishing through media containers (`containers`) and
the long-lived token's care (`provider`). Each network keeps only what differs."""
