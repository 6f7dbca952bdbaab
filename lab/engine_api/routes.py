"""URL paths to what they name: collections, entities, sub-collections, `follow=`, actions and updates.

Each answer is an ovirtsdk4 object or list (and the collection's XML root tag); server.py turns it into a document.
Paths are those of the API model's services (ovirt-engine-api-model src/main/java/services/).
"""

import ovirtsdk4.types as types

from . import links, render, subresources, upstream
from .search import Query
from .state import NotFound

ROOT_TAGS = {
    "datacenters": "data_centers",
    "storagedomains": "storage_domains",
    "diskattachments": "disk_attachments",
    "reporteddevices": "reported_devices",
    "vnicprofiles": "vnic_profiles",
}
ENTITY = {
    "datacenters": render.datacenter,
    "clusters": render.cluster,
    "networks": render.network,
    "storagedomains": render.storage_domain,
    "vms": render.vm,
    "disks": subresources.disk,
    "tags": subresources.tag,
    "users": subresources.user,
    "jobs": subresources.job,
}
# (kind, sub) -> the sub-collection's items for an entity of that kind
SUB = {
    ("hosts", "nics"): subresources.host_nics,
    ("hosts", "statistics"): subresources.host_statistics,
    ("hosts", "tags"): subresources.tags,
    ("vms", "nics"): subresources.vm_nics,
    ("vms", "statistics"): subresources.vm_statistics,
    ("vms", "tags"): subresources.tags,
    ("vms", "diskattachments"): subresources.disk_attachments,
    ("vms", "reporteddevices"): subresources.reported_devices,
    ("storagedomains", "disks"): lambda site, sd: [
        subresources.disk(site, d) for d in site.list("disks", storage_domain=sd["id"])
    ],
    ("clusters", "networks"): lambda site, cl: [
        render.network(site, n, cl["id"]) for n in site.list("networks") if cl["id"] in n["clusters"]
    ],
    ("datacenters", "storagedomains"): lambda site, dc: [
        render.storage_domain(site, d, dc["id"]) for d in site.list("storagedomains", datacenter=dc["id"])
    ],
    ("datacenters", "networks"): lambda site, dc: [
        render.network(site, n) for n in site.list("networks", datacenter=dc["id"])
    ],
    ("datacenters", "clusters"): lambda site, dc: [
        render.cluster(site, c) for c in site.list("clusters", datacenter=dc["id"])
    ],
}


class Request:
    """What a GET asks besides its path: query parameters and whether all content is wanted."""

    def __init__(self, query, all_content=False):
        self.query, self.all_content = query, all_content

    def case_sensitive(self):
        return self.query.get("case_sensitive", "").lower() == "true"

    def max(self):
        return int(self.query["max"]) if "max" in self.query else None


def get(site, parts, request):
    """(object or list, root tag) for a GET path (segments after /ovirt-engine/api)."""
    if not parts:
        return render.api(site), None
    kind = parts[0]
    if len(parts) == 1:
        return collection(site, kind, request), ROOT_TAGS.get(kind, kind)
    if len(parts) == 2:
        return entity(site, kind, parts[1], request), None
    items = sub_collection(site, kind, parts[1], parts[2])
    if len(parts) == 3:
        return items, ROOT_TAGS.get(parts[2], parts[2])
    match = [i for i in items if i.id == parts[3]] if len(parts) == 4 else []
    if not match:
        raise NotFound(parts[3] if len(parts) == 4 else "/".join(parts))
    return match[0], None


def collection(site, kind, request):
    query = Query(request.query.get("search"))
    if kind == "events":
        after = int(request.query["from"]) if "from" in request.query else None
        rows = site.search("events", site.audit_events(after), request.query.get("search"), request.case_sensitive())
        return query.paginate([render.event(site, e) for e in rows], request.max())
    if kind == "roles":
        return query.paginate(subresources.roles(), request.max())
    if kind == "tags":
        return query.paginate(subresources.tags(site), request.max())
    if kind == "vnicprofiles":
        return query.paginate(render.vnic_profiles(site), request.max())
    if kind not in ENTITY and kind != "hosts":
        raise upstream.refusal("GET", [kind])
    entities = site.search(
        kind,
        sorted(site.state[kind].values(), key=lambda e: e["name"]),
        request.query.get("search"),
        request.case_sensitive(),
    )
    return query.paginate([_render(site, kind, e, request) for e in entities], request.max())


def entity(site, kind, ident, request):
    if kind == "events":
        rows = [e for e in site.audit_events() if e["id"] == ident]
        if not rows:
            raise NotFound(ident)
        return render.event(site, rows[0])
    if kind in ("roles", "tags", "vnicprofiles"):
        found = [o for o in collection(site, kind, Request({})) if o.id == ident]
        if not found:
            raise NotFound(ident)
        return found[0]
    if kind not in ENTITY and kind != "hosts":
        raise upstream.refusal("GET", [kind])
    return _render(site, kind, site.get(kind, ident), request)


def _render(site, kind, e, request):
    if kind == "hosts":
        return render.host(site, e, all_content=request.all_content)
    return ENTITY[kind](site, e)


def sub_collection(site, kind, ident, sub):
    lister = SUB.get((kind, sub))
    if lister is None:
        raise upstream.refusal("GET", [kind, ident, sub])
    return lister(site, site.get(kind, ident))


def follow(site, obj, paths, request):
    """Inline what `follow=a.b,c` names (api-model 003-CommonConcepts.adoc, "Following links"): a reference is
    replaced by the entity, a link by its collection, each path element an attribute name."""
    for path in filter(None, (p.strip() for p in paths.split(","))):
        _follow(site, obj if isinstance(obj, list) else [obj], path.split("."), request)


def _follow(site, objs, steps, request):
    name, rest = steps[0], steps[1:]
    for obj in objs:
        value = getattr(obj, name, None)
        if isinstance(value, types.Struct) and value.href:
            value = get(site, _parts(value.href), request)[0]
        elif (
            value is None
            and links.shape(obj.href, links.API_PREFIX) in links.LINKS
            and name.replace("_", "") in links.LINKS[links.shape(obj.href, links.API_PREFIX)]
        ):
            value = get(site, _parts(obj.href) + [name.replace("_", "")], request)[0]
        else:
            continue
        setattr(obj, name, value)
        if rest:
            _follow(site, value if isinstance(value, list) else [value], rest, request)


def _parts(href):
    return [p for p in href[len(links.API_PREFIX) :].split("/") if p]
