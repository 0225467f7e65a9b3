"""The engine: probe, analyse, plan, render. Everything `mediaenhancer enhance` does on one machine."""
