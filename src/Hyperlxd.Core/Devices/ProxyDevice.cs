using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Instances;
using Hyperlxd.Core.Networks;

namespace Hyperlxd.Core.Devices;

/// <summary>One forwarder of a non-NAT proxy device: listens in the host's namespace, connects inside <see cref="Netns"/>.</summary>
/// <param name="Listen">"tcp:ADDR:PORTS" / "udp:ADDR:PORTS" (ports: N, N-M, comma-separated), the address bracketed when IPv6.</param>
public sealed record ProxyForward(string Instance, string Device, string Netns, string Listen, string Connect, uint? Uid, uint? Gid);

/// <summary>The supervised forwarding processes of non-NAT proxy devices (one per device, surviving a daemon restart).</summary>
public interface IProxyForwarders
{
    /// <summary>
    /// Starts the device's forwarder, or adopts the one already running with the same arguments (daemon
    /// restart). A listen port already taken is a <see cref="ConflictException"/> naming it; any other
    /// failure a <see cref="BadRequestException"/>. Supervised from then on: restarted if it dies.
    /// </summary>
    Task StartAsync(ProxyForward forward, CancellationToken ct);

    /// <summary>Ends the device's forwarder, if any. Safe to repeat.</summary>
    Task StopAsync(string instance, string device, CancellationToken ct);
}

/// <summary>A parsed proxy address (LXD's ProxyParseAddr): protocol, address (without brackets), ports in order.</summary>
public sealed record ProxyAddress(string Protocol, string Address, IReadOnlyList<int> Ports)
{
    /// <summary>The forwarder's form: protocol, address (bracketed when IPv6), ports as given.</summary>
    public string Format(string ports) => $"{Protocol}:{(Address.Contains(':') ? $"[{Address}]" : Address)}:{ports}";

    public bool IsV6 => Address.Contains(':');

    /// <summary>Parses "tcp:ADDR:PORTS"; returns the problem (LXD's wording) or null.</summary>
    public static string? TryParse(string text, out ProxyAddress? address)
    {
        address = null;
        var fields = text.Split(':', 2);
        if (fields[0] is not ("tcp" or "udp" or "unix"))
        {
            return $"Unknown protocol type \"{Validators.Printable(fields[0])}\"";
        }
        if (fields.Length < 2 || fields[1].Length == 0)
        {
            return "Missing address";
        }
        if (fields[0] == "unix")
        {
            address = new ProxyAddress("unix", fields[1], []);
            return null;
        }
        // Go's net.SplitHostPort: the last colon separates the port; an IPv6 host is bracketed.
        var rest = fields[1];
        var colon = rest.LastIndexOf(':');
        if (colon < 0)
        {
            return $"address {Validators.Printable(rest)}: missing port in address";
        }
        var host = rest[..colon];
        var portText = rest[(colon + 1)..];
        if (host.StartsWith('['))
        {
            if (!host.EndsWith(']'))
            {
                return $"address {Validators.Printable(rest)}: missing ']' in address";
            }
            host = host[1..^1];
        }
        else if (host.Contains(':'))
        {
            return $"address {Validators.Printable(rest)}: too many colons in address";
        }
        if (host.Length > 0 && (!IPAddress.TryParse(host, out var ip) || host.Contains('%') || ip.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)))
        {
            return $"Not an IP address \"{Validators.Printable(host)}\"";
        }
        var ports = new List<int>();
        foreach (var part in portText.Split(','))
        {
            var range = part.Split('-');
            if (range.Length > 2)
            {
                return $"Invalid port range \"{Validators.Printable(part)}\"";
            }
            if (!int.TryParse(range[0], NumberStyles.None, CultureInfo.InvariantCulture, out var first) || first > 65535
                || (range.Length == 2 && (!int.TryParse(range[1], NumberStyles.None, CultureInfo.InvariantCulture, out var last) || last > 65535)))
            {
                return $"Invalid port \"{Validators.Printable(part)}\" (ports are 0-65535, ranges N-M)";
            }
            var end = range.Length == 2 ? int.Parse(range[1], CultureInfo.InvariantCulture) : first;
            if (range.Length == 2 && end <= first)
            {
                return "End port should be higher than start port";
            }
            for (var p = first; p <= end; p++)
            {
                ports.Add(p);
            }
        }
        if (ports.Count == 0)
        {
            return "At least one port is required";
        }
        address = new ProxyAddress(fields[0], host, ports);
        return null;
    }

    public static ProxyAddress Parse(string text) =>
        TryParse(text, out var a) is { } problem ? throw new BadRequestException(problem) : a!;
}

/// <summary>
/// LXD's <c>proxy</c>: <c>listen</c> on the host, <c>connect</c> inside the instance. <c>nat=true</c> is a DNAT
/// rule of the networking layer to the instance's static nic address; otherwise a forwarding process
/// (<see cref="IProxyForwarders"/>) binds on the host and connects from inside the instance's network
/// namespace. Both start once the instance runs (<see cref="StartedAsync"/>). Unix sockets, instance-side
/// binding and the PROXY header are refused as not supported yet.
/// </summary>
public sealed class ProxyDevice() : Device("proxy", KeyList, "listen", "connect")
{
    private static readonly string[] KeyList = { "listen", "connect", "bind", "nat", "proxy_protocol", "security.uid", "security.gid", "uid", "gid", "mode" };

    private static readonly string[] AddressKeys = { "listen", "connect" };
    private static readonly string[] IdKeys = { "uid", "gid", "security.uid", "security.gid" };
    private static readonly string[] UnixKeys = { "uid", "gid", "mode" };

    public override bool HotPluggable => true;

    public override bool RunsAfterStart => true;

    protected override void Check(string name, IReadOnlyDictionary<string, string> device, InstanceType? instanceType)
    {
        var addresses = new Dictionary<string, ProxyAddress>();
        foreach (var key in AddressKeys)
        {
            if (device[key].Length == 0)
            {
                BadValue(name, key, "Required value");
            }
            if (ProxyAddress.TryParse(device[key], out var parsed) is { } problem)
            {
                BadValue(name, key, problem);
            }
            addresses[key] = parsed!;
        }
        if (Value(device, "bind") is { } bind && bind is not ("host" or "instance" or "guest" or "container"))
        {
            BadValue(name, "bind", "Invalid binding side given. Must be \"host\" or \"instance\"");
        }
        if (Value(device, "mode") is { } mode && !IsOctal(mode))
        {
            BadValue(name, "mode", "Invalid value for an octal file mode");
        }
        foreach (var key in IdKeys)
        {
            if (Value(device, key) is { } id && !uint.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            {
                BadValue(name, key, "Invalid value for a UNIX ID");
            }
        }
        CheckBool(name, device, "nat");
        CheckBool(name, device, "proxy_protocol");
        var nat = LxdBool.IsTrue(Value(device, "nat"));
        if (instanceType == InstanceType.VirtualMachine && !nat)
        {
            Problem(name, "on a virtual machine needs \"nat\": Only NAT mode is supported for proxies on VM instances");
        }
        var (listen, connect) = (addresses["listen"], addresses["connect"]);
        if ((listen.Protocol != "unix" && connect.Ports.Count > listen.Ports.Count) || (listen.Protocol == "unix" && connect.Ports.Count > 1)
            || (listen.Ports.Count > 1 && connect.Ports.Count > 1 && connect.Ports.Count != listen.Ports.Count))
        {
            Problem(name, "has a mismatch between listen port(s) and connect port(s) count");
        }
        var proxyProtocol = LxdBool.IsTrue(Value(device, "proxy_protocol"));
        if (proxyProtocol && (connect.Protocol != "tcp" || nat))
        {
            Problem(name, "\"proxy_protocol\": The PROXY header can only be sent to tcp servers in non-nat mode");
        }
        if ((listen.Protocol != "unix" || listen.Address.StartsWith('@')) && UnixKeys.FirstOrDefault(k => Value(device, k) is not null) is { } unixKey)
        {
            Problem(name, $"key \"{unixKey}\": Only proxy devices for non-abstract unix sockets can carry uid, gid, or mode properties");
        }
        if (nat)
        {
            CheckNat(name, device, listen, connect);
        }
        // What LXD has and Hyperlxd does not do yet: refused rather than accepted and ignored.
        if (listen.Protocol == "unix" || connect.Protocol == "unix")
        {
            Problem(name, $"\"{(listen.Protocol == "unix" ? "listen" : "connect")}\": unix sockets are not supported yet");
        }
        if (Value(device, "bind") is { } side && side != "host")
        {
            Problem(name, $"\"bind\": binding on the instance side (\"{side}\") is not supported yet");
        }
        if (proxyProtocol)
        {
            Problem(name, "\"proxy_protocol\": the PROXY header is not supported yet");
        }
        if (listen.Protocol != connect.Protocol)
        {
            Problem(name, $"proxying {listen.Protocol} to {connect.Protocol} is not supported yet");
        }
    }

    private void CheckNat(string name, IReadOnlyDictionary<string, string> device, ProxyAddress listen, ProxyAddress connect)
    {
        if (Value(device, "bind") is { } bind && bind != "host")
        {
            Problem(name, "\"bind\": Only host-bound proxies can use NAT");
        }
        if (listen.Protocol == "unix" || connect.Protocol == "unix" || listen.Protocol != connect.Protocol)
        {
            Problem(name, $"\"nat\": Proxying {listen.Protocol} <-> {connect.Protocol} is not supported when using NAT");
        }
        if (listen.Address.Length == 0 || IPAddress.Parse(listen.Address) is var ip && (ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any)))
        {
            BadValue(name, "listen", $"Cannot listen on wildcard address \"{(listen.Address.Length == 0 ? "" : IPAddress.Parse(listen.Address).ToString())}\" when in nat mode");
        }
        if (connect.Address.Length == 0 || listen.IsV6 != connect.IsV6)
        {
            BadValue(name, "connect", "Cannot mix IP versions between listen and connect in nat mode");
        }
    }

    private static bool IsOctal(string v) => v.Length > 0 && v.All(c => c is >= '0' and <= '7') && v.Length <= 11;

    /// <summary>The NAT target: the instance's static address of the listen family on a bridged nic (LXD's setupNAT rule).</summary>
    private static string NatTarget(DeviceContext d, ProxyAddress connect, bool v6)
    {
        var key = v6 ? "ipv6.address" : "ipv4.address";
        var wildcard = v6 ? "::" : "0.0.0.0";
        foreach (var (_, nic) in d.Devices.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            if (nic.GetValueOrDefault("type") != "nic" || !(nic.ContainsKey("network") || nic.GetValueOrDefault("nictype") == "bridged"))
            {
                continue;
            }
            if (nic.GetValueOrDefault(key) is { Length: > 0 } stat && stat != "none"
                && (connect.Address == wildcard || IPAddress.TryParse(connect.Address, out var c) && IPAddress.TryParse(stat, out var s) && c.Equals(s)))
            {
                return stat;
            }
        }
        var family = v6 ? 6 : 4;
        throw new BadRequestException(connect.Address == wildcard
            ? $"Device \"{d.Name}\": Instance has no static IPv{family} address assigned to be used as the connect IP"
            : $"Device \"{d.Name}\": Connect IP \"{connect.Address}\" must be one of the instance's static IPv{family} addresses");
    }

    public override async Task<IReadOnlyDictionary<string, string>> StartedAsync(DeviceContext device, string? netns, CancellationToken ct)
    {
        var listen = ProxyAddress.Parse(device.Config["listen"]);
        var connect = ProxyAddress.Parse(device.Config["connect"]);
        if (LxdBool.IsTrue(Value(device.Config, "nat")))
        {
            var target = NatTarget(device, connect, listen.IsV6);
            await using var revert = new Reverter();
            revert.Add(() => device.Host.Networks.RemoveProxyNatAsync(device.Instance, device.Name, CancellationToken.None));
            for (var i = 0; i < listen.Ports.Count; i++)
            {
                var port = connect.Ports.Count == 1 ? connect.Ports[0] : connect.Ports[i];
                await device.Host.Networks.AddProxyNatAsync(new ProxyNat(device.Instance, device.Name, listen.Protocol, listen.Address, listen.Ports[i], target, port), ct);
            }
            revert.Success();
            return new Dictionary<string, string>();
        }
        if (netns is null)
        {
            throw new BadRequestException($"Device \"{device.Name}\": the instance has no network namespace: Only NAT mode is supported for proxies on VM instances");
        }
        static string Normalize(string text, ProxyAddress a, string fallback) =>
            (a with { Address = a.Address.Length == 0 ? fallback : a.Address }).Format(text[(text.LastIndexOf(':') + 1)..]);
        await device.Host.Forwarders.StartAsync(new ProxyForward(device.Instance, device.Name, netns,
            Normalize(device.Config["listen"], listen, "0.0.0.0"), Normalize(device.Config["connect"], connect, "127.0.0.1"),
            Id(device.Config, "security.uid"), Id(device.Config, "security.gid")), ct);
        return new Dictionary<string, string>();
    }

    private static uint? Id(IReadOnlyDictionary<string, string> d, string key) =>
        Value(d, key) is { } v ? uint.Parse(v, CultureInfo.InvariantCulture) : null;

    /// <summary>Both kinds go (the rule, the forwarder): a device whose <c>nat</c> changed leaves nothing of the other.</summary>
    public override async Task<IReadOnlyDictionary<string, string>> TeardownAsync(DeviceContext device, CancellationToken ct)
    {
        await device.Host.Forwarders.StopAsync(device.Instance, device.Name, ct);
        await device.Host.Networks.RemoveProxyNatAsync(device.Instance, device.Name, ct);
        return new Dictionary<string, string>();
    }
}
