"""The decoded alert as an expandable tree: records and lists are nodes, fields are `name: value` leaves."""

from __future__ import annotations

from dataclasses import dataclass

from elasticc_stream.tui import formatting
from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

# Children of these are shown expanded when the alert opens: the detection itself is what one looks at first.
EXPANDED = ("diaSource", "candidate")
# Fields that identify an item of a list (prvDiaSources[i]...), shown in its collapsed label.
ITEM_FIELDS = ("diaSourceId", "diaForcedSourceId", "midPointTai", "midpointMjdTai", "filterName", "band", "psFlux",
               "psfFlux", "candid", "jd")


def _item_label(index: int, item: object) -> Text:
    label = Text(f"[{index}]", style="bold")
    if isinstance(item, dict):
        brief = [formatting.value(item[name]) for name in ITEM_FIELDS if name in item][:3]
        if brief:
            label.append("  " + "  ".join(brief), style="dim")
    return label


@dataclass(frozen=True)
class Leaf:
    name: str
    shown: str


def node_path(node: TreeNode[object]) -> str:
    """`diaSource.psFlux`, `prvDiaSources[3].midPointTai`: where a node sits in the alert."""
    parts: list[str] = []
    while node.parent is not None:
        data = node.data
        label = data.name if isinstance(data, Leaf) else str(node.label).split("  ")[0].split(" [")[0]
        parts.append(label)
        node = node.parent
    out = ""
    for part in reversed(parts):
        out += part if part.startswith("[") or not out else f".{part}"
    return out


class AlertTree(Tree[object]):
    """Children are added when a node is first expanded: prvDiaForcedSources can hold hundreds of records."""

    def __init__(self, record: dict, label: str = "alert", **kwargs) -> None:
        super().__init__(label, data=record, **kwargs)
        self.auto_expand = True

    def on_mount(self) -> None:
        self._fill(self.root)
        self.root.expand()
        for child in self.root.children:
            if str(child.label) in EXPANDED:
                self._fill(child)
                child.expand()

    def _fill(self, node: TreeNode[object]) -> None:
        if node.children:
            return
        data = node.data
        items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
        for name, value in items:
            if isinstance(value, dict | list) and value:
                if isinstance(name, int):
                    label = _item_label(name, value)
                elif isinstance(value, list):
                    label = Text.assemble((str(name), "bold"), (f" [{len(value)}]", "dim"))
                else:
                    label = Text(str(name), style="bold")
                node.add(label, data=value)
            else:
                shown = "[]" if value == [] else "{}" if value == {} else formatting.value(value)
                if value is None:
                    shown = "null"
                # The leaf keeps its value whole: the screen shows it below the tree when the label is cut.
                node.add_leaf(Text.assemble((f"{name}", "bold"), ": ", shown), data=Leaf(str(name), shown))

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[object]) -> None:
        self._fill(event.node)
