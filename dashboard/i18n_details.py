"""UI strings of a run's details page: its ids, its place in the queue, and why Try it and Export are closed.
Merged into dashboard/i18n.py's catalogs."""

EN = {
    "details.dataset_sha": "Dataset sha256", "details.job_id": "Job id",
    "details.queue_unknown": "Queued; its place in the queue shows once the spooler has taken it in.",
    "try.no_adapter_final": "This run ended without an adapter, so there is nothing to try.",
    "export.needs_adapter": "Export opens when the run has finished or stopped: it needs the run's adapter.",
    "export.no_adapter_final": "This run ended without an adapter, so there is nothing to export.",
}

ZH = {
    "details.dataset_sha": "数据集 sha256", "details.job_id": "任务 ID",
    "details.queue_unknown": "排队中；spooler 接收后会显示排队位置。",
    "try.no_adapter_final": "这次训练结束时没有生成适配器，因此无法试用。",
    "export.needs_adapter": "训练完成或停止后才能导出：需要这次训练的适配器。",
    "export.no_adapter_final": "这次训练结束时没有生成适配器，因此无法导出。",
}
