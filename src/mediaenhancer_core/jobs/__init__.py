"""Server jobs: admission against the plan, the queue (embedded or Redis), the worker that runs them, and signed callbacks."""
