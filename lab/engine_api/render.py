"""State dicts -> ovirtsdk4.types objects, so XML comes from the SDK's own writers."""
import datetime

import ovirtsdk4.types as types

from .state import attachment

API_PREFIX = '/ovirt-engine/api'
_MB = 1024 * 1024


def href(*parts):
    return '/'.join((API_PREFIX,) + parts)


def _link(cls, kind, ident):
    """A reference to another entity, as the engine writes it: id and href only."""
    if ident is None:
        return None
    obj = cls(id=ident)
    obj.href = href(kind, ident)
    return obj


def _identified(obj, *parts):
    obj.href = href(*parts)
    return obj


def _version(text):
    numbers = [int(n) for n in text.split('.')] + [0, 0, 0]
    return types.Version(major=numbers[0], minor=numbers[1], build=numbers[2], revision=0,
                         full_version='%s-1.el9' % text)


def api(site):
    """GET /ovirt-engine/api: product info and a summary, as in the API model's Api type."""
    state, engine = site.state, site.engine
    summary = types.ApiSummary(
        hosts=types.ApiSummaryItem(total=len(state['hosts']),
                                   active=sum(h['status'] == 'up' for h in state['hosts'].values())),
        vms=types.ApiSummaryItem(total=len(state['vms']),
                                 active=sum(v['status'] == 'up' for v in state['vms'].values())),
        storage_domains=types.ApiSummaryItem(total=len(state['storagedomains']),
                                             active=len(state['storagedomains'])))
    obj = types.Api(product_info=types.ProductInfo(name='oVirt Engine', vendor='ovirt.org',
                                                   version=_version(engine['version'])),
                    summary=summary, time=datetime.datetime.now(datetime.timezone.utc))
    obj.href = API_PREFIX
    return obj


def datacenter(site, dc):
    major, minor = (int(n) for n in dc['version'].split('.'))
    return _identified(types.DataCenter(id=dc['id'], name=dc['name'], local=dc['local'],
                                        status=types.DataCenterStatus(dc['status']),
                                        version=types.Version(major=major, minor=minor)),
                       'datacenters', dc['id'])


def cluster(site, cl):
    major, minor = (int(n) for n in cl['version'].split('.'))
    return _identified(types.Cluster(id=cl['id'], name=cl['name'],
                                     data_center=_link(types.DataCenter, 'datacenters', cl['datacenter']),
                                     cpu=types.Cpu(type=cl['cpu_type']),
                                     version=types.Version(major=major, minor=minor)),
                       'clusters', cl['id'])


def network(site, net, cluster_id=None):
    """A network as restapi's NetworkMapper writes it: `usages` holds `vm` for a VM network, and the cluster roles
    (display, migration, management, default_route, gluster) only under clusters/<id>/networks, where the network
    also carries the cluster link, `display`, `required` and `status` of its network_cluster row; the top-level
    collection (GetAllNetworks) has no cluster row, so none of these."""
    in_cluster = cluster_id is not None
    usages = [u for u in net['usages'] if in_cluster or u == 'vm']
    obj = types.Network(id=net['id'], name=net['name'], mtu=net['mtu'],
                        data_center=_link(types.DataCenter, 'datacenters', net['datacenter']),
                        usages=[types.NetworkUsage(u) for u in usages],
                        vlan=types.Vlan(id=net['vlan']) if net['vlan'] is not None else None)
    if not in_cluster:
        return _identified(obj, 'networks', net['id'])
    attached = attachment(net, cluster_id)
    obj.cluster = _link(types.Cluster, 'clusters', cluster_id)
    obj.required = attached['required']
    obj.display = 'display' in net['usages']
    obj.status = types.NetworkStatus(attached['status'])
    return _identified(obj, 'clusters', cluster_id, 'networks', net['id'])


def host(site, h, all_content=False):
    """A host; hosted_engine details only with all_content=true, as the engine does."""
    obj = types.Host(id=h['id'], name=h['name'], address=h['address'], port=54321,
                     protocol=types.HostProtocol.STOMP, type=types.HostType(h['type']),
                     status=types.HostStatus(h['status']), status_detail=h['status_detail'],
                     cluster=_link(types.Cluster, 'clusters', h['cluster']),
                     memory=h['memory_mb'] * _MB, max_scheduling_memory=max(site.free_mb(h), 0) * _MB,
                     summary=types.VmSummary(total=len(site.running_vms(h['id']))),
                     ssh=types.Ssh(port=22, user=types.User(user_name='root')))
    if all_content:
        obj.hosted_engine = types.HostedEngine(**h['he'])
    return _identified(obj, 'hosts', h['id'])


def _host_storage(spec):
    kind = types.StorageType(spec.get('type', 'nfs'))
    obj = types.HostStorage(type=kind, address=spec.get('address'), path=spec.get('path'),
                            nfs_version=types.NfsVersion(spec['nfs_version']) if spec.get('nfs_version') else None,
                            mount_options=spec.get('mount_options'),
                            vfs_type='glusterfs' if kind == types.StorageType.GLUSTERFS else spec.get('vfs_type'))
    if kind in (types.StorageType.ISCSI, types.StorageType.FCP):
        obj.logical_units = [types.LogicalUnit(id=lun['id'], address=lun.get('address'), port=lun.get('port'),
                                               target=lun.get('target'), size=lun.get('size'))
                             for lun in spec.get('logical_units', [])]
        obj.volume_group = types.VolumeGroup(id=spec.get('volume_group')) if spec.get('volume_group') else None
    return obj


def storage_domain(site, sd, datacenter_id=None):
    """Top-level domains omit status when attached: the engine reports status per data center."""
    obj = types.StorageDomain(id=sd['id'], name=sd['name'], type=types.StorageDomainType(sd['type']),
                              storage=_host_storage(sd['storage']), master=sd['master'],
                              storage_format=types.StorageFormat.V5,
                              external_status=types.ExternalStatus.OK)
    if sd['datacenter']:
        obj.data_centers = [_link(types.DataCenter, 'datacenters', sd['datacenter'])]
    if datacenter_id is not None:
        obj.data_center = _link(types.DataCenter, 'datacenters', datacenter_id)
        obj.status = types.StorageDomainStatus(sd['status'])
        return _identified(obj, 'datacenters', datacenter_id, 'storagedomains', sd['id'])
    if not sd['datacenter']:
        obj.status = types.StorageDomainStatus.UNATTACHED
    return _identified(obj, 'storagedomains', sd['id'])


def placement_hosts(v):
    """The hosts of a VM's placement policy (the engine's dedicated_vm_for_vds); a state written before the model
    had `placement_hosts` pins a pinned VM to the host it runs on."""
    if 'placement_hosts' in v:
        return v['placement_hosts']
    return [v['host']] if v['placement'] == 'pinned' and v['host'] else []


def vm(site, v):
    """VmBaseMapper: placement_policy always, its affinity from the VM's migration support (MIGRATABLE: migratable,
    IMPLICITLY_NON_MIGRATABLE: user_migratable, PINNED_TO_HOST: pinned), its hosts only when it names some."""
    affinity = types.VmAffinity(v['placement'])
    pinned_hosts = [_link(types.Host, 'hosts', h) for h in placement_hosts(v) if h in site.state['hosts']] or None
    running = v['status'] not in ('down', 'suspended')
    return _identified(types.Vm(id=v['id'], name=v['name'], status=types.VmStatus(v['status']), origin=v['origin'],
                                memory=v['memory_mb'] * _MB,
                                cluster=_link(types.Cluster, 'clusters', v['cluster']),
                                host=_link(types.Host, 'hosts', v['host']) if running else None,
                                placement_policy=types.VmPlacementPolicy(affinity=affinity, hosts=pinned_hosts)),
                       'vms', v['id'])


def action():
    """The body answered to a successful action."""
    return types.Action(status='complete')


def fault(reason, detail):
    return types.Fault(reason=reason, detail=detail)


def event(site, e):
    """An audit log entry as the API's `events` collection gives it."""
    return _identified(types.Event(
        id=e['id'], code=EVENT_CODES.get(e['status'], 0), description=e['description'], severity=types.LogSeverity.NORMAL,
        time=datetime.datetime.fromtimestamp(e['time'], datetime.timezone.utc),
        host=_link(types.Host, 'hosts', e['host']),
    ), 'events', e['id'])


# The lab's own codes for the host transitions it records (the real engine's AuditLogType numbers differ per event).
EVENT_CODES = {'preparing_for_maintenance': 600, 'maintenance': 16, 'installing': 509, 'install_failed': 505,
               'initializing': 9501, 'up': 13}
