"""What the fakes of Meta's Graph networks (Instagram, Threads) share: Graph's wire format
(`wire`), the login world of codes and 60-day tokens with the quota and processing knobs
(`state`), and the Graph host's token calls and the login host's two endpoints (`host`). Each
fake keeps its own nodes, containers, limits and field names."""
