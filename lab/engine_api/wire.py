"""Documents as the Engine sends and reads them: ovirtsdk4's XML, the engine's links, and the JSON form.

XML is written by ovirtsdk4's own Writer and read by its Reader, so the format is exactly what the SDK parses. The
JSON form is the one restapi's JSONProvider gives (Jackson over the JAXB model, `json/CustomObjectMapperFactory.java`:
NON_NULL, element names as keys, XML attributes as plain members, a list as an array under its element name inside
its wrapper, numbers and booleans as JSON values, dates as epoch milliseconds per api-model `A01-PrimitiveTypes.adoc`).
"""

import datetime
import decimal
import enum
import json
import xml.etree.ElementTree as ET

import ovirtsdk4.readers  # noqa: F401  registers the XML readers
import ovirtsdk4.writers  # noqa: F401  registers the XML writers
from ovirtsdk4.reader import Reader
from ovirtsdk4.writer import Writer

from . import links

ATTRIBUTES = ("id", "href", "rel")  # what the model writes as XML attributes


class Document:
    """One answer: an SDK object (or list) with the engine's links, for one request's base path and format."""

    def __init__(self, obj, root=None, base=links.API_PREFIX, decorate=True):
        self.obj, self.root = obj, root
        self.tree = ET.fromstring(Writer.write(obj, root=root))
        if decorate:
            links.decorate(self.tree, links.API_PREFIX)
        if self.tree.tag == "api":
            links.root_links(self.tree, links.API_PREFIX)
        if base != links.API_PREFIX:
            _rebase(self.tree, base)

    def xml(self):
        ET.indent(self.tree)
        # an empty string stays <x></x>: ovirtsdk4's reader reads that as '' and <x/> as None
        return ET.tostring(self.tree, encoding="utf-8", xml_declaration=True, short_empty_elements=False)

    def json(self):
        return json.dumps(_json(self.tree, self.obj), indent=2).encode("utf-8")


def _rebase(tree, base):
    """/ovirt-engine/api/v4 requests get hrefs under the same prefix (restapi Current.getAbsolutePath)."""
    for node in tree.iter():
        href = node.get("href")
        if href and href.startswith(links.API_PREFIX):
            node.set("href", base + href[len(links.API_PREFIX) :])


def _json(node, value):
    """The JSON value of an element, typed by the SDK value it was written from."""
    if len(node) == 0 and not node.attrib and not isinstance(value, list):
        return _scalar(node.text or "", value)
    out = dict(node.attrib)
    groups = {}
    for child in node:
        groups.setdefault(child.tag, []).append(child)
    for tag, children in groups.items():
        if tag in ("link", "actions") and not _attribute(value, tag):
            out[tag] = _json_links(children)
            continue
        if isinstance(value, list):  # a collection or list wrapper: its items, in order
            out[tag] = [_json(c, v) for c, v in zip(children, value)]
        else:
            out[tag] = _json(children[0], _attribute(value, tag))
    return out


def _json_links(children):
    if children[0].tag == "actions":
        return {"link": [dict(link.attrib) for link in children[0]]}
    return [dict(link.attrib) for link in children]


def _attribute(value, tag):
    if value is None or isinstance(value, list):
        return None
    return getattr(value, tag, getattr(value, tag + "_", None))


def _scalar(text, value):
    if isinstance(value, bool):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, int):
        return value
    if isinstance(value, (float, decimal.Decimal)):
        return float(value)
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    return text


def read(body, content_type, root):
    """A request body as an SDK object: XML as is, JSON turned into the XML element `root` first."""
    if "json" in (content_type or ""):
        data = json.loads(body.decode("utf-8"))
        body = ET.tostring(_element(root, data))
    return Reader.read(body)


def _element(tag, data):
    node = ET.Element(tag)
    for key, value in data.items():
        if key in ATTRIBUTES and not isinstance(value, (dict, list)):
            node.set(key, str(value))
        else:
            for item in value if isinstance(value, list) else [value]:
                node.append(_element(key, item) if isinstance(item, dict) else _text(key, item))
    return node


def _text(tag, value):
    node = ET.Element(tag)
    node.text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return node
