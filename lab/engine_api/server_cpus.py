"""The Engine's ServerCPUList for cluster level 4.7 (vdc_options; ovirt-engine packaging/dbscripts/upgrade/pre_upgrade/
0000_config.sql, the same in 4.5.0 to 4.5.7), its x86_64 entries: LEVEL:NAME:FLAGS:VERB_DATA:ARCH. A host fits a
CPU type when it has every flag (its /proc/cpuinfo flags and `model_<M>` for each libvirt model usable on it, as
VDSM reports cpuFlags); CpuFlagsManagerHandler.findMaxServerCpuByFlags picks the highest level it fits."""

SERVER_CPU_LIST = {
    "4.7": (
        "1:Intel Nehalem Family:vmx,nx,model_Nehalem:Nehalem:x86_64; "
        "2:Secure Intel Nehalem Family:vmx,spec_ctrl,ssbd,model_Nehalem:Nehalem,+spec-ctrl,+ssbd:x86_64; "
        "3:Intel Westmere Family:aes,vmx,nx,model_Westmere:Westmere:x86_64; "
        "4:Secure Intel Westmere Family:aes,vmx,spec_ctrl,ssbd,model_Westmere:Westmere,+pcid,+spec-ctrl,+ssbd:x86_64; "
        "5:Intel SandyBridge Family:vmx,nx,model_SandyBridge:SandyBridge:x86_64; "
        "6:Secure Intel SandyBridge Family:vmx,spec_ctrl,ssbd,md_clear,model_SandyBridge:SandyBridge,+pcid,+spec-ctrl,+ssbd,+md-clear:x86_64; "
        "7:Intel IvyBridge Family:vmx,nx,model_IvyBridge:IvyBridge:x86_64; "
        "8:Secure Intel IvyBridge Family:vmx,spec_ctrl,ssbd,md_clear,model_IvyBridge:IvyBridge,+pcid,+spec-ctrl,+ssbd,+md-clear:x86_64; "
        "9:Intel Haswell Family:vmx,nx,model_Haswell-noTSX:Haswell-noTSX:x86_64; "
        "10:Secure Intel Haswell Family:vmx,spec_ctrl,ssbd,md_clear,model_Haswell-noTSX:Haswell-noTSX,+spec-ctrl,+ssbd,+md-clear:x86_64; "
        "11:Intel Broadwell Family:vmx,nx,model_Broadwell-noTSX:Broadwell-noTSX:x86_64; "
        "12:Secure Intel Broadwell Family:vmx,spec_ctrl,ssbd,md_clear,model_Broadwell-noTSX:Broadwell-noTSX,+spec-ctrl,+ssbd,+md-clear:x86_64; "
        "13:Intel Skylake Client Family:vmx,nx,model_Skylake-Client:Skylake-Client,-hle,-rtm,-mpx:x86_64; "
        "14:Secure Intel Skylake Client Family:vmx,ssbd,md_clear,model_Skylake-Client-noTSX-IBRS:Skylake-Client-noTSX-IBRS,+ssbd,+md-clear,-mpx:x86_64; "
        "15:Intel Skylake Server Family:vmx,nx,model_Skylake-Server:Skylake-Server,-hle,-rtm,-mpx:x86_64; "
        "16:Secure Intel Skylake Server Family:vmx,ssbd,md_clear,model_Skylake-Server-noTSX-IBRS:Skylake-Server-noTSX-IBRS,+ssbd,+md-clear,-mpx:x86_64; "
        "17:Intel Cascadelake Server Family:vmx,model_Cascadelake-Server:Cascadelake-Server,-hle,-rtm,-mpx:x86_64; "
        "18:Secure Intel Cascadelake Server Family:vmx,model_Cascadelake-Server-noTSX:Cascadelake-Server-noTSX,-mpx:x86_64; "
        "19:Intel Icelake Server Family:vmx,model_Icelake-Server-noTSX:Icelake-Server-noTSX,-mpx:x86_64; "
        "20:Secure Intel Icelake Server Family:vmx,arch-capabilities,rdctl-no,ibrs-all,skip-l1dfl-vmentry,mds-no,pschange-mc-no,model_Icelake-Server-noTSX:Icelake-Server-noTSX,+arch-capabilities,+rdctl-no,+ibrs-all,+skip-l1dfl-vmentry,+mds-no,+pschange-mc-no,-mpx:x86_64; "
        "1:AMD Opteron G4:svm,nx,model_Opteron_G4:Opteron_G4:x86_64; "
        "2:AMD Opteron G5:svm,nx,model_Opteron_G5:Opteron_G5:x86_64; "
        "3:AMD EPYC:svm,nx,model_EPYC:EPYC:x86_64; "
        "4:Secure AMD EPYC:svm,nx,ibpb,ssbd,model_EPYC:EPYC,+ibpb,+virt-ssbd:x86_64; "
    ),
}


def cpu_types(version):
    """[(level, name, flags)] of a cluster level, as the Engine parses ServerCPUList; None for a level not kept here."""
    text = SERVER_CPU_LIST.get(version)
    if text is None:
        return None
    entries = [e.strip().split(":") for e in text.split(";") if e.strip()]
    return [(int(level), name, flags.split(",")) for level, name, flags, _verbs, _arch in entries]


def missing_flags(version, cpu_type, host_flags):
    """The flags of CPU_TYPE the host lacks, in the cluster's order (CpuFlagsManagerHandler.missingClusterCpuFlags),
    None if the type is unknown."""
    found = next((flags for _, name, flags in cpu_types(version) or [] if name == cpu_type), None)
    return None if found is None else [f for f in found if f not in set(host_flags)]


def max_server_cpu(version, host_flags):
    """The highest CPU type the host fits, or None: the Engine then sets it Non Operational (event 156)."""
    fits = [(level, name) for level, name, flags in cpu_types(version) or [] if set(flags) <= set(host_flags)]
    return max(fits)[1] if fits else None
