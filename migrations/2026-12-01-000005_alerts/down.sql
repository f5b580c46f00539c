DROP TABLE alert_logs; DROP TABLE alerts; DROP TABLE alert_events;
