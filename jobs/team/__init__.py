"""Team use: who a user is (auth modes), what they may do (owners, admins, service accounts), fair shares (quotas),
and the audit trail."""
