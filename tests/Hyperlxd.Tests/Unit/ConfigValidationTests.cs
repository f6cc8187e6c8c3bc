using System.Text.Json;
using Hyperlxd.Api;
using Hyperlxd.Containers;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;
using Hyperlxd.Core.Devices;

namespace Hyperlxd.Tests.Unit;

public sealed class ConfigValidationTests
{
    [Theory]
    [InlineData("limits.cpu", "2")]
    [InlineData("limits.cpu", "0-0")]
    [InlineData("limits.cpu", "4096")]
    [InlineData("limits.cpu.allowance", "1ms/1000ms")]
    [InlineData("limits.memory", "8MiB")]
    [InlineData("limits.cpu.allowance", "50%")]
    [InlineData("limits.cpu.allowance", "25ms/100ms")]
    [InlineData("limits.memory", "512MiB")]
    [InlineData("limits.memory", "1.5GB")]
    [InlineData("limits.memory", "20%")]
    [InlineData("limits.processes", "500")]
    [InlineData("security.privileged", "true")]
    [InlineData("boot.autostart", "false")]
    [InlineData("environment.HTTP_PROXY", "http://proxy")]
    [InlineData("user.anything", "x")]
    [InlineData("limits.memory", "")]
    public void Valid_keys_pass(string key, string value) =>
        InstanceConfig.Validate(new Dictionary<string, string> { [key] = value }, isProfile: true);

    [Theory]
    [InlineData("limits.cpu", "0", "limits.cpu")]
    [InlineData("limits.cpu", "two", "limits.cpu")]
    [InlineData("limits.memory", "10 parsecs", "limits.memory")]
    [InlineData("limits.processes", "-1", "limits.processes")]
    [InlineData("security.privileged", "maybe", "boolean")]
    [InlineData("limits.cpu.allowance", "fast", "limits.cpu.allowance")]
    [InlineData("limits.cpu", "3-1", "reversed range")]
    [InlineData("limits.cpu", "0-999", "not online")]
    [InlineData("limits.cpu", "9999999999999999999", "limits.cpu")]
    [InlineData("limits.cpu.allowance", "0ms/0ms", "period")]
    [InlineData("limits.cpu.allowance", "0ms/100ms", "quota")]
    [InlineData("limits.cpu.allowance", "10ms/5000ms", "period")]
    [InlineData("limits.cpu.allowance", "0%", "limits.cpu.allowance")]
    [InlineData("limits.memory", "0", "smallest memory limit")]
    [InlineData("limits.memory", "1B", "smallest memory limit")]
    [InlineData("limits.memory", "7MiB", "smallest memory limit")]
    [InlineData("limits.memory", "0%", "limits.memory")]
    [InlineData("limits.memory", "101%", "limits.memory")]
    [InlineData("limits.memory", "99999999999999999999999GB", "limits.memory")]
    [InlineData("nope", "1", "Unknown config key \"nope\"")]
    [InlineData("user.", "1", "user.")]
    [InlineData("volatile.eth0.hwaddr", "x", "volatile")]
    public void Invalid_keys_name_the_problem(string key, string value, string mentions)
    {
        var e = Assert.Throws<BadRequestException>(() => InstanceConfig.Validate(new Dictionary<string, string> { [key] = value }, isProfile: true));
        Assert.Contains(mentions, e.Message);
    }

    /// <summary>Issue 9 finding 9: CPU sets against a host's online CPUs (here 0-7).</summary>
    [Theory]
    [InlineData("0-3,6", null)]
    [InlineData("7", null)]
    [InlineData("64", null)]
    [InlineData("3-1", "reversed range \"3-1\"")]
    [InlineData("0-999", "CPU 8, which is not online on this host (online: 0,1,2,3,4,5,6,7)")]
    [InlineData("0-99999999999", "beyond any host")]
    [InlineData("1,0-2", "CPU 1 more than once")]
    [InlineData("9999999999999999999", "not a CPU count")]
    [InlineData("0", "at least 1 CPU")]
    public void Cpu_limits_are_checked_against_the_online_CPUs(string value, string? problem)
    {
        var check = Validators.CpuLimitOn(() => new HashSet<int>(Enumerable.Range(0, 8)));
        if (problem is null)
        {
            Assert.Null(check(value));
        }
        else
        {
            Assert.Contains(problem, check(value));
        }
    }

    /// <summary>Issue 9 finding 3: keys and values that could break a line of the container spec or an environment.</summary>
    [Theory]
    [InlineData("environment.X", "a\nhook-prestart touch /tmp/pwned", "environment.X")]
    [InlineData("environment.A\nhook-prestart touch /tmp/pwned", "1", "environment.A\\x0ahook-prestart")]
    [InlineData("environment.A=B", "1", "environment.A=B")]
    [InlineData("environment.A B", "1", "environment.A B")]
    [InlineData("environment.X", "a\0b", "environment.X")]
    [InlineData("user.note", "a\0b", "user.note")]
    [InlineData("user.a\rb", "1", "user.a\\x0db")]
    [InlineData("limits.memory\n", "1GiB", "limits.memory")]
    public void Control_characters_in_keys_newlines_in_environment_and_NUL_anywhere_are_refused(string key, string value, string mentions)
    {
        var e = Assert.Throws<BadRequestException>(() => InstanceConfig.Validate(new Dictionary<string, string> { [key] = value }, isProfile: true));
        Assert.Contains(mentions, e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Theory]
    [InlineData("environment.LC_ALL", "C.UTF-8")]
    [InlineData("environment.X", "a b=c 'q' \"dq\"\ttab \\ \r $(x)")]
    [InlineData("environment.lower.dotted-name", "\u00e9t\u00e9")]
    public void Environment_values_lxd_accepts_pass(string key, string value) =>
        InstanceConfig.Validate(new Dictionary<string, string> { [key] = value }, isProfile: false);

    [Theory]
    [InlineData("a b", @"a\x20b")]
    [InlineData("a\nhook-prestart x", @"a\x0ahook-prestart\x20x")]
    [InlineData(@"back\slash\x20", @"back\\slash\\x20")]
    [InlineData("tab\t\u007f\r", @"tab\x09\x7f\x0d")]
    [InlineData("caf\u00e9=\"q\"'", "caf\u00e9=\"q\"'")]
    [InlineData("/srv/my data", @"/srv/my\x20data")]
    public void Spec_fields_escape_backslash_space_and_control_characters(string value, string field) =>
        Assert.Equal(field, SpecWriter.Field(value));

    [Fact]
    public void A_spec_field_cannot_carry_NUL() => Assert.Throws<BadRequestException>(() => SpecWriter.Field("a\0b"));

    [Fact]
    public void Volatile_keys_are_allowed_on_instances() =>
        InstanceConfig.Validate(new Dictionary<string, string> { ["volatile.eth0.hwaddr"] = "x" }, isProfile: false);

    [Theory]
    [InlineData("512MiB", 512L * 1024 * 1024)]
    [InlineData("1GB", 1_000_000_000L)]
    [InlineData("100", 100L)]
    [InlineData("2kB", 2000L)]
    public void Sizes_parse_as_lxd_does(string text, long bytes) => Assert.Equal(bytes, Validators.ParseSize(text));

    [Fact]
    public void Devices_are_checked_by_type()
    {
        DeviceTypes.Validate(new Dictionary<string, Dictionary<string, string>> { ["root"] = new() { ["type"] = "disk", ["path"] = "/", ["pool"] = "default" } });
        // nic devices are implemented (issue 11): a managed-network nic passes; a nictype not done yet is refused after its keys are checked.
        DeviceTypes.Validate(new Dictionary<string, Dictionary<string, string>> { ["eth0"] = new() { ["type"] = "nic", ["network"] = "br0", ["name"] = "eth0" } });
        var e = Assert.Throws<BadRequestException>(() => DeviceTypes.Validate(new Dictionary<string, Dictionary<string, string>> { ["eth0"] = new() { ["type"] = "nic", ["nictype"] = "macvlan", ["parent"] = "eth0" } }));
        Assert.StartsWith("Device \"eth0\": nictype \"macvlan\" is not supported yet", e.Message);
        e = Assert.Throws<BadRequestException>(() => DeviceTypes.Validate(new Dictionary<string, Dictionary<string, string>> { ["eth0"] = new() { ["type"] = "nic", ["nictype"] = "wormhole" } }));
        Assert.Contains("wormhole", e.Message);
        e = Assert.Throws<BadRequestException>(() => DeviceTypes.Validate(new Dictionary<string, Dictionary<string, string>> { ["p"] = new() { ["type"] = "proxy", ["listen"] = "tcp:0.0.0.0:80" } }));
        Assert.Contains("connect", e.Message);
        e = Assert.Throws<BadRequestException>(() => DeviceTypes.Validate(new Dictionary<string, Dictionary<string, string>> { ["d"] = new() { ["type"] = "disk", ["path"] = "/", ["pool"] = "p", ["colour"] = "red" } }));
        Assert.Contains("colour", e.Message);
    }

    /// <summary>Issue 9 finding 10: the kernel's dev_valid_name.</summary>
    [Theory]
    [InlineData("eth0", true)]
    [InlineData("br-lan.100", true)]
    [InlineData("abcdefghijklmno", true)]
    [InlineData("abcdefghijklmnop", false)]
    [InlineData("a/b", false)]
    [InlineData("a b", false)]
    [InlineData("a\tb", false)]
    [InlineData("a:b", false)]
    [InlineData(".", false)]
    [InlineData("..", false)]
    [InlineData("", false)]
    public void Interface_names_follow_the_kernel(string name, bool valid) => Assert.Equal(valid, DeviceTypes.IsInterfaceName(name));

    [Theory]
    [InlineData("path", "mnt/x", "path")]
    [InlineData("path", "/mnt/../etc", "path")]
    [InlineData("path", "/mnt/..", "path")]
    [InlineData("source", "srv/data", "source")]
    [InlineData("source", "/srv/../etc", "source")]
    public void Disk_paths_are_absolute_without_dotdot(string key, string value, string mentions)
    {
        var disk = new Dictionary<string, string> { ["type"] = "disk", ["path"] = "/mnt/x", ["source"] = "/srv/data", [key] = value };
        var e = Assert.Throws<BadRequestException>(() => DeviceTypes.Validate(new Dictionary<string, Dictionary<string, string>> { ["d"] = disk }));
        Assert.Contains($"\"{mentions}\"", e.Message);
        Assert.Contains("\"d\"", e.Message);
        // A pool volume's source is a volume name, not a host path.
        DeviceTypes.Validate(new Dictionary<string, Dictionary<string, string>> { ["v"] = new() { ["type"] = "disk", ["path"] = "/mnt/v", ["pool"] = "default", ["source"] = "vol1" } });
    }

    [Fact]
    public void A_JSON_null_in_a_string_map_reads_as_empty_like_Go()
    {
        var put = JsonSerializer.Deserialize("""{"config":{"a":null,"b":"x"},"devices":{"d":{"type":"disk","path":null}}}""", ApiJsonContext.Default.InstancePut)!;
        Assert.Equal("", put.Config!["a"]);
        Assert.Equal("x", put.Config["b"]);
        Assert.Equal("", put.Devices!["d"]["path"]);
        Assert.Null(JsonSerializer.Deserialize("""{"config":null}""", ApiJsonContext.Default.InstancePut)!.Config);
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize("""{"config":{"a":1}}""", ApiJsonContext.Default.InstancePut));
        Assert.Contains("\"config\":{\"a\":\"\",\"b\":\"x\"}", JsonSerializer.Serialize(put, ApiJsonContext.Default.InstancePut));
    }

    [Fact]
    public void Server_config_knows_its_keys()
    {
        ServerConfig.Validate(new Dictionary<string, string> { ["core.https_address"] = "[::]:8443", ["core.shutdown_timeout"] = "5", ["user.x"] = "y" });
        ServerConfig.Validate(new Dictionary<string, string> { ["core.https_address"] = "127.0.0.1" });
        var e = Assert.Throws<BadRequestException>(() => ServerConfig.Validate(new Dictionary<string, string> { ["core.https_address"] = "localhost:x" }));
        Assert.Contains("core.https_address", e.Message);
        e = Assert.Throws<BadRequestException>(() => ServerConfig.Validate(new Dictionary<string, string> { ["images.unknown"] = "1" }));
        Assert.Contains("images.unknown", e.Message);
    }

    [Theory]
    [InlineData("c1", true)]
    [InlineData("web-01", true)]
    [InlineData("1abc", false)]
    [InlineData("-a", false)]
    [InlineData("a-", false)]
    [InlineData("a_b", false)]
    [InlineData("", false)]
    public void Instance_names_follow_hostname_rules(string name, bool valid)
    {
        if (valid)
        {
            Names.ValidateUserInstanceName(name);
        }
        else
        {
            Assert.Throws<BadRequestException>(() => Names.ValidateUserInstanceName(name));
        }
    }

    /// <summary>A stored key names its project ("p_c1"); what follows the project still follows the client's rules.</summary>
    [Fact]
    public void Instance_keys_are_a_project_and_a_valid_name()
    {
        Names.ValidateInstanceName("p_c1");
        Assert.Throws<BadRequestException>(() => Names.ValidateInstanceName("p_a_b"));
        Assert.Throws<BadRequestException>(() => Names.ValidateInstanceName("p_-x"));
    }
}
