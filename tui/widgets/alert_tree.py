"""The decoded alert as an expandable tree: records and lists are nodes, fields are `name: value` leaves."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ...engine.avro_json import leaf
from ...engine.families.registry import item_fields

# Children of these are shown expanded when the alert opens: the detection itself is what one looks at first.
EXPANDED = ("diaSource", "candidate")
# A list shows this many items at first, then a "… N more" line that adds the next ones when selected, so
# that opening prvDiaForcedSources of a Fink partition alert (hundreds of records) stays instant.
PAGE = 50


def _item_label(index: int, item: object) -> Text:
    label = Text(f"[{index}]", style="bold")
    if isinstance(item, dict):
        brief = [v if isinstance(v := item[name], str) else leaf(v)[0] for name in item_fields() if name in item][:3]
        if brief:
            label.append("  " + "  ".join(brief), style="dim")
    return label


@dataclass(frozen=True)
class Leaf:
    name: str
    shown: str


@dataclass(frozen=True)
class More:
    """The "… N more" line of a list: selecting it shows the next PAGE items from `start`."""

    items: list
    start: int


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
        if isinstance(data, list):
            self._add_items(node, data, 0)
        elif isinstance(data, dict):
            self._add_fields(node, data.items())

    def _add_items(self, node: TreeNode[object], items: list, start: int) -> None:
        stop = min(len(items), start + PAGE)
        self._add_fields(node, ((i, items[i]) for i in range(start, stop)))
        if stop < len(items):
            left = len(items) - stop
            label = Text(f"… {left} more (Enter shows {min(PAGE, left)} more)", style="dim italic")
            node.add_leaf(label, data=More(items, stop))

    def _add_fields(self, node: TreeNode[object], items) -> None:
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
                # Strings bare (the tree is for reading); every other value by the JSON rule (ISO times...).
                shown = value if isinstance(value, str) else leaf(value)[0]
                # The leaf keeps its value whole: the screen shows it below the tree when the label is cut.
                node.add_leaf(Text.assemble((f"{name}", "bold"), ": ", shown), data=Leaf(str(name), shown))

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[object]) -> None:
        self._fill(event.node)

    def on_tree_node_selected(self, event: Tree.NodeSelected[object]) -> None:
        more = event.node.data
        if isinstance(more, More) and event.node.parent is not None:
            parent = event.node.parent
            event.node.remove()
            self._add_items(parent, more.items, more.start)
