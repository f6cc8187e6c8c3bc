using Hyperlxd.Containers;
using Hyperlxd.Core;
using Hyperlxd.Core.Config;

namespace Hyperlxd.Tests.Unit;

public sealed class ConfigValidationTests
{
    [Theory]
    [InlineData("limits.cpu", "2")]
    [InlineData("limits.cpu", "0-3,6")]
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
    [InlineData("nope", "1", "Unknown config key \"nope\"")]
    [InlineData("user.", "1", "user.")]
    [InlineData("volatile.eth0.hwaddr", "x", "volatile")]
    public void Invalid_keys_name_the_problem(string key, string value, string mentions)
    {
        var e = Assert.Throws<BadRequestException>(() => InstanceConfig.Validate(new Dictionary<string, string> { [key] = value }, isProfile: true));
        Assert.Contains(mentions, e.Message);
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
        Devices.Validate(new Dictionary<string, Dictionary<string, string>> { ["root"] = new() { ["type"] = "disk", ["path"] = "/", ["pool"] = "default" } });
        Devices.Validate(new Dictionary<string, Dictionary<string, string>> { ["eth0"] = new() { ["type"] = "nic", ["network"] = "br0", ["name"] = "eth0" } });
        var e = Assert.Throws<BadRequestException>(() => Devices.Validate(new Dictionary<string, Dictionary<string, string>> { ["eth0"] = new() { ["type"] = "nic", ["nictype"] = "wormhole" } }));
        Assert.Contains("wormhole", e.Message);
        e = Assert.Throws<BadRequestException>(() => Devices.Validate(new Dictionary<string, Dictionary<string, string>> { ["p"] = new() { ["type"] = "proxy", ["listen"] = "tcp:0.0.0.0:80" } }));
        Assert.Contains("connect", e.Message);
        e = Assert.Throws<BadRequestException>(() => Devices.Validate(new Dictionary<string, Dictionary<string, string>> { ["d"] = new() { ["type"] = "disk", ["path"] = "/", ["pool"] = "p", ["colour"] = "red" } }));
        Assert.Contains("colour", e.Message);
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
            Names.ValidateInstanceName(name);
        }
        else
        {
            Assert.Throws<BadRequestException>(() => Names.ValidateInstanceName(name));
        }
    }
}
