"""What each served entity links to and which actions it offers, as the API model's services declare them.

The names are the URL segments (`rel`) of the locators and action methods of oVirt/ovirt-engine-api-model
`src/main/java/services/<Kind>Service.java`, lower-cased as restapi's LinkHelper and the SDK write them. Only what
the lab serves is listed: a link must lead somewhere, and an action must do something.
"""

import re
import xml.etree.ElementTree as ET

API_PREFIX = "/ovirt-engine/api"
# (collection[, sub-collection]) -> sub-collections served under each entity of it
LINKS = {
    ("hosts",): ("nics", "statistics", "tags"),
    ("vms",): ("diskattachments", "nics", "reporteddevices", "statistics", "tags"),
    ("storagedomains",): ("disks",),
    ("datacenters",): ("clusters", "networks", "storagedomains"),
    ("clusters",): ("networks",),
}
ACTIONS = {
    ("hosts",): ("activate", "deactivate", "install", "upgradecheck"),
    ("vms",): ("migrate", "start", "stop"),
}
# The API root's collections (BackendApiResource.getLinks: one `rel` per top-level locator of SystemService);
# those the engine's search backend covers also get a `<rel>/search` link with the {query} template.
ROOT_COLLECTIONS = (
    "clusters",
    "datacenters",
    "disks",
    "events",
    "hosts",
    "jobs",
    "networks",
    "roles",
    "storagedomains",
    "tags",
    "users",
    "vms",
)
SEARCHABLE = ("clusters", "datacenters", "disks", "events", "hosts", "networks", "storagedomains", "users", "vms")
_ENTITY = re.compile(r"/(?P<kind>[a-z]+)/[^/]+(?:/(?P<sub>[a-z]+)/[^/]+)?$")


def shape(href, prefix):
    """(kind[, sub]) of a full entity's href, None for anything that is not an entity."""
    if not href or not href.startswith(prefix):
        return None
    match = _ENTITY.match(href[len(prefix) :])
    if match is None:
        return None
    kind = match.group("kind")
    return (kind, match.group("sub")) if match.group("sub") else (kind,)


def decorate(element, prefix):
    """Give every full entity in the tree (one with content, not a bare id/href reference) its `actions` and `link`
    elements, as the engine's LinkHelper.addLinks does for each entity it answers."""
    for node in element.iter():
        href = node.get("href")
        key = shape(href, prefix) if len(node) else None
        if key is None:
            continue
        actions = ACTIONS.get(key, ())
        if actions:
            wrapper = ET.Element("actions")
            wrapper.extend(_link(href, name) for name in actions)
            node.insert(0, wrapper)
        inlined = {child.tag.replace("_", "") for child in node}  # followed: the content replaces the link
        node.extend(_link(href, rel) for rel in LINKS.get(key, ()) if rel not in inlined)


def root_links(element, prefix):
    """The API root's links to each collection (and its search template)."""
    for rel in ROOT_COLLECTIONS:
        element.append(_link(prefix, rel))
        if rel in SEARCHABLE:
            element.append(ET.Element("link", href="%s/%s?search={query}" % (prefix, rel), rel="%s/search" % rel))


def _link(href, rel):
    return ET.Element("link", href="%s/%s" % (href, rel), rel=rel)
