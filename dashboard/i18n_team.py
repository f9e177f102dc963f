"""UI strings for team use (#23): who is signed in, owners, refused actions, the audit trail. Merged into
dashboard/i18n.py."""

EN = {
    "auth.no_header_title": "Sign-in required",
    "auth.no_header": "This dashboard is reached through a sign-in proxy, and this request did not come through it "
                      "(it has no {header} header). Open the dashboard at the address your team uses.",
    "auth.login_title": "Sign in to Tunedeck", "auth.login": "Sign in", "auth.logout": "Sign out",
    "auth.signed_in": "Signed in as {user}", "auth.admin": "admin",
    "auth.refused": "Not allowed: {reason}",
    "auth.admin_only": "Only an admin may change these settings.",
    "col.owner": "Owner", "filter.mine": "Mine", "filter.mine_help": "Only the jobs you own",
    "details.owner": "Owner", "details.history": "History",
    "details.no_history": "No recorded actions on this job yet.",
    "audit.title": "Audit trail", "audit.help": "The last 200 actions from workspace/audit.jsonl, newest first.",
    "audit.none": "Nothing recorded yet.", "audit.when": "When", "audit.who": "Who", "audit.from": "From",
    "audit.action": "Action", "audit.job": "Job", "audit.allowed": "Allowed", "audit.detail": "Detail",
    "auth.not_owner_hint": "{reason}",
}

ZH = {
    "auth.no_header_title": "需要登录",
    "auth.no_header": "此仪表板需经登录代理访问，而此请求未经过代理（没有 {header} 请求头）。请使用团队的访问地址打开仪表板。",
    "auth.login_title": "登录 Tunedeck", "auth.login": "登录", "auth.logout": "退出登录",
    "auth.signed_in": "当前用户：{user}", "auth.admin": "管理员",
    "auth.refused": "不允许：{reason}",
    "auth.admin_only": "只有管理员可以修改这些设置。",
    "col.owner": "所有者", "filter.mine": "我的", "filter.mine_help": "只显示我的任务",
    "details.owner": "所有者", "details.history": "操作记录",
    "details.no_history": "此任务还没有操作记录。",
    "audit.title": "审计记录", "audit.help": "workspace/audit.jsonl 中最近 200 条操作，最新的在前。",
    "audit.none": "还没有记录。", "audit.when": "时间", "audit.who": "用户", "audit.from": "来源",
    "audit.action": "操作", "audit.job": "任务", "audit.allowed": "允许", "audit.detail": "说明",
    "auth.not_owner_hint": "{reason}",
}
