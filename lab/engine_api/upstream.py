"""What upstream's API has where the lab has nothing, so that the lab refuses it the way it should: a method
upstream serves but the lab does not model is 501 "not modelled by the lab", one upstream does not have is what
upstream answers (404 for no such resource, 405 for a method the resource lacks). The API's services come from
ovirt-engine-api-model as the generated ovirtsdk4 has them (`SystemService.service(path)` resolves a path the way the
server's locators do; a service's actions are the paths its methods post to)."""

import functools
import inspect
import re

import ovirtsdk4
import ovirtsdk4.services as services

from .state import ActionFailed

METHODS = {"GET": ("list", "get"), "PUT": ("update",), "DELETE": ("remove",)}


def service(parts):
    """The upstream service at PATH's parts, or None when upstream has no such path."""
    try:
        return services.SystemService(None, "").service("/".join(parts))
    except ovirtsdk4.Error:
        return None


@functools.lru_cache(maxsize=None)
def actions(cls):
    """The action paths a service class posts to (`_internal_action(action, 'PATH', ...)` in its methods)."""
    return frozenset(re.findall(r"_internal_action\(\s*action,\s*'([^']+)'", inspect.getsource(cls)))


@functools.lru_cache(maxsize=None)
def sub_paths(cls):
    """The paths a service class locates below itself (`service(path)`), as its `if path == 'PATH'` tests."""
    return tuple(re.findall(r"path == '([^']+)'", inspect.getsource(cls.service)))


def has_action(parts, name):
    found = service(parts)
    return found is not None and name in actions(type(found))


def refusal(method, parts):
    """The error for METHOD on PARTS, which the lab does not serve."""
    path = "/".join(parts)
    target = service(parts)
    if method == "POST":
        served = (target is not None and hasattr(target, "add")) or (
            len(parts) > 1 and has_action(parts[:-1], parts[-1])
        )
        exists = served
    else:
        served = target is not None and any(hasattr(target, m) for m in METHODS.get(method, ()))
        exists = target is not None
    if served:
        return ActionFailed(501, "Not Implemented", f"not modelled by the lab: {method} {path}")
    if exists:
        return ActionFailed(405, "Method Not Allowed", f"Method {method} not supported here")
    return ActionFailed(404, "Not Found", f"No resource {path}")
