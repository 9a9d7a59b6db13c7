"""The supervisors' web console: review queue, corrections with an audit trail, the
rankings, and the JSON API for the hotline's ticket system."""
