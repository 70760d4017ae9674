"""Save the seller's costs into settings.json and recompute the economics columns (0 tokens)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

from django.conf import settings

from deals import tasks
from deals.config import SellerCosts, load_config, parse_seller_costs

ECONOMICS_COLUMNS = ["all_in_cost", "profit", "margin_percent", "roi_percent", "max_buy_total"]


def save_seller_costs(costs: SellerCosts) -> str:
    """Write `costs` into settings.json (everything else kept) and queue the recompute."""
    path = Path(settings.DEALS_SETTINGS_FILE)
    load_config(path)  # refuse to rewrite a file that is broken already
    data = json.loads(path.read_text(encoding="utf-8"))
    data["seller_costs"] = asdict(costs)
    parse_seller_costs(data["seller_costs"], path.name)
    text = json.dumps(data, indent=2) + "\n"
    # Write a sibling file and rename it over the original: a reader never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".settings-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tasks.queue_recompute(ECONOMICS_COLUMNS)
