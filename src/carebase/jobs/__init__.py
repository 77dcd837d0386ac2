"""Jobs: the scheduled work (reminders, agenda, no-shows, reports, cleanup), on-demand exports with
progress, and the dead-letter admin. Built on ``carebase.core.worker``."""
