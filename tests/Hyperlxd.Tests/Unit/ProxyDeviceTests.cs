using Hyperlxd.Core;
using Hyperlxd.Core.Devices;
using Hyperlxd.Core.Instances;

namespace Hyperlxd.Tests.Unit;

/// <summary>The proxy device's key rules (LXD 5.0.2's proxy.go and ProxyParseAddr), without a host.</summary>
public sealed class ProxyDeviceTests
{
    private static Dictionary<string, Dictionary<string, string>> Devices(string[] kv) =>
        new() { ["web"] = kv.Select(s => s.Split('=', 2)).ToDictionary(p => p[0], p => p[1]) };

    private static void Valid(InstanceType type, params string[] kv) => DeviceTypes.Validate(Devices(["type=proxy", .. kv]), type);

    private static string Refused(InstanceType? type, params string[] kv)
    {
        var e = Assert.Throws<BadRequestException>(() => DeviceTypes.Validate(Devices(["type=proxy", .. kv]), type));
        Assert.Equal(400, e.StatusCode);
        Assert.Contains("\"web\"", e.Message);
        return e.Message;
    }

    private static string Refused(params string[] kv) => Refused(InstanceType.Container, kv);

    [Fact]
    public void Tcp_and_udp_forwards_and_nat_rules_are_accepted()
    {
        Valid(InstanceType.Container, "listen=tcp:0.0.0.0:80", "connect=tcp:127.0.0.1:8080");
        Valid(InstanceType.Container, "listen=tcp:[::]:80", "connect=tcp:[::1]:80", "bind=host");
        Valid(InstanceType.Container, "listen=udp:127.0.0.1:5000-5003", "connect=udp:127.0.0.1:6000-6003");
        Valid(InstanceType.Container, "listen=tcp:127.0.0.1:80,443", "connect=tcp:127.0.0.1:8000", "security.uid=1000", "security.gid=1000");
        Valid(InstanceType.Container, "listen=tcp:10.1.1.1:80", "connect=tcp:0.0.0.0:80", "nat=true");
        Valid(InstanceType.VirtualMachine, "listen=tcp:10.1.1.1:80", "connect=tcp:10.0.3.10:80", "nat=true");
    }

    [Theory]
    [InlineData("listen=sctp:1.2.3.4:80", "listen", "Unknown protocol type \"sctp\"")]
    [InlineData("listen=tcp:", "listen", "Missing address")]
    [InlineData("listen=tcp:1.2.3.4", "listen", "missing port in address")]
    [InlineData("listen=tcp:1.2.3.4:http", "listen", "Invalid port")]
    [InlineData("listen=tcp:1.2.3.4:70000", "listen", "Invalid port")]
    [InlineData("listen=tcp:1.2.3.4:90-80", "listen", "End port should be higher than start port")]
    [InlineData("listen=tcp:300.2.3.4:80", "listen", "Not an IP address")]
    [InlineData("listen=tcp:::1:80", "listen", "too many colons")]
    [InlineData("connect=tcp:example.com:80", "connect", "Not an IP address")]
    [InlineData("bind=sideways", "bind", "Must be \"host\" or \"instance\"")]
    [InlineData("nat=perhaps", "nat", "boolean")]
    [InlineData("security.uid=-1", "security.uid", "Invalid value for a UNIX ID")]
    public void Bad_values_are_a_400_naming_the_key(string kv, string key, string problem)
    {
        var given = new Dictionary<string, string> { ["listen"] = "tcp:127.0.0.1:80", ["connect"] = "tcp:127.0.0.1:80" };
        var (k, v) = (kv.Split('=', 2)[0], kv.Split('=', 2)[1]);
        given[k] = v;
        var message = Refused([.. given.Select(p => $"{p.Key}={p.Value}")]);
        Assert.Contains($"\"{key}\"", message);
        Assert.Contains(problem, message);
    }

    [Fact]
    public void Lxd_rules_between_keys()
    {
        Assert.Contains("missing required key \"connect\"", Refused("listen=tcp:127.0.0.1:80"));
        Assert.Contains("mismatch between listen port(s) and connect port(s) count", Refused("listen=tcp:127.0.0.1:80", "connect=tcp:127.0.0.1:80-81"));
        Assert.Contains("mismatch", Refused("listen=tcp:127.0.0.1:80-82", "connect=tcp:127.0.0.1:80-81"));
        Assert.Contains("Only NAT mode is supported for proxies on VM instances",
            Refused(InstanceType.VirtualMachine, "listen=tcp:127.0.0.1:80", "connect=tcp:127.0.0.1:80"));
        Assert.Contains("Cannot listen on wildcard address \"0.0.0.0\" when in nat mode", Refused("listen=tcp:0.0.0.0:80", "connect=tcp:10.0.3.10:80", "nat=true"));
        Assert.Contains("Cannot mix IP versions between listen and connect in nat mode", Refused("listen=tcp:10.1.1.1:80", "connect=tcp:[fd42::1]:80", "nat=true"));
        Assert.Contains("Proxying tcp <-> udp is not supported when using NAT", Refused("listen=tcp:10.1.1.1:80", "connect=udp:10.0.3.10:80", "nat=true"));
        Assert.Contains("Only host-bound proxies can use NAT", Refused("listen=tcp:10.1.1.1:80", "connect=tcp:10.0.3.10:80", "nat=true", "bind=instance"));
        Assert.Contains("The PROXY header can only be sent to tcp servers in non-nat mode",
            Refused("listen=udp:127.0.0.1:80", "connect=udp:127.0.0.1:80", "proxy_protocol=true"));
        Assert.Contains("Only proxy devices for non-abstract unix sockets can carry uid, gid, or mode properties",
            Refused("listen=tcp:127.0.0.1:80", "connect=tcp:127.0.0.1:80", "mode=0644"));
    }

    [Fact]
    public void What_is_not_implemented_yet_is_refused_naming_it()
    {
        Assert.Contains("unix sockets are not supported yet", Refused("listen=unix:/run/x.sock", "connect=tcp:127.0.0.1:80"));
        Assert.Contains("unix sockets are not supported yet", Refused("listen=tcp:127.0.0.1:80", "connect=unix:/run/x.sock"));
        Assert.Contains("\"bind\": binding on the instance side (\"instance\") is not supported yet", Refused("listen=tcp:127.0.0.1:80", "connect=tcp:127.0.0.1:80", "bind=instance"));
        Assert.Contains("the PROXY header is not supported yet", Refused("listen=tcp:127.0.0.1:80", "connect=tcp:127.0.0.1:80", "proxy_protocol=true"));
        Assert.Contains("proxying tcp to udp is not supported yet", Refused("listen=tcp:127.0.0.1:80", "connect=udp:127.0.0.1:80"));
    }

    [Fact]
    public void Addresses_parse_as_lxd_parses_them()
    {
        var a = ProxyAddress.Parse("tcp:[fd42::1]:80,90-92");
        Assert.Equal(("tcp", "fd42::1"), (a.Protocol, a.Address));
        Assert.Equal([80, 90, 91, 92], a.Ports);
        Assert.Equal("tcp:[fd42::1]:80,90-92", a.Format("80,90-92"));
        var empty = ProxyAddress.Parse("udp::53");
        Assert.Equal(("udp", "", 53), (empty.Protocol, empty.Address, empty.Ports[0]));
    }
}
