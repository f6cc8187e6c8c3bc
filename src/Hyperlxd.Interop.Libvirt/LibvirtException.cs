namespace Hyperlxd.Interop.Libvirt;

/// <summary>
/// A failed libvirt call: libvirt's virErrorNumber (<see cref="Code"/>), virErrorDomain
/// (<see cref="ErrorDomain"/>) and message, read on the failing thread right after the call
/// (<see cref="LibvirtError"/> builds every one). The message is libvirt's, prefixed with the call.
/// </summary>
public sealed class LibvirtException(int code, int errorDomain, string message, string call)
    : Exception($"{call}: {message}")
{
    /// <summary>VIR_ERR_NO_DOMAIN.</summary>
    public const int NoDomain = 42;

    /// <summary>VIR_ERR_OPERATION_INVALID (e.g. destroying a domain that is not running).</summary>
    public const int OperationInvalid = 55;

    /// <summary>VIR_ERR_OPERATION_TIMEOUT.</summary>
    public const int OperationTimeout = 68;

    /// <summary>VIR_ERR_AGENT_UNRESPONSIVE: the guest agent is not connected or did not answer in time.</summary>
    public const int AgentUnresponsive = 86;

    /// <summary>VIR_ERR_AGENT_UNSYNCED: the guest agent answered with the wrong id.</summary>
    public const int AgentUnsynced = 97;

    /// <summary>virErrorNumber (VIR_ERR_*); 0 when libvirt reported no error for the failure.</summary>
    public int Code { get; } = code;

    /// <summary>virErrorDomain (VIR_FROM_*): the part of libvirt that raised it.</summary>
    public int ErrorDomain { get; } = errorDomain;

    /// <summary>libvirt's own message (without the call prefix).</summary>
    public string LibvirtMessage { get; } = message;

    /// <summary>The libvirt function that failed, e.g. "virDomainCreateWithFlags".</summary>
    public string Call { get; } = call;

    /// <summary>42: no such domain (or it vanished meanwhile).</summary>
    public bool IsNoDomain => Code == NoDomain;

    /// <summary>55: not applicable in the domain's state (e.g. destroy of a stopped domain, resume of a running one).</summary>
    public bool IsOperationInvalid => Code == OperationInvalid;

    /// <summary>The guest agent cannot answer now: 86 (not connected / not responding), 97 (unsynced) or 68 (timeout).</summary>
    public bool IsAgentUnavailable => Code is AgentUnresponsive or AgentUnsynced or OperationTimeout;
}
