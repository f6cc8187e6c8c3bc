using System.Text.Json;
using Hyperlxd.Cli.Commands;
using Hyperlxd.Cli.Output;

namespace Hyperlxd.Cli.Tests;

public class FormatterTests
{
    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement.Clone();

    [Fact]
    public void ProfileYamlUsesWireKeysAndLxcLayout()
    {
        var profile = Json("""
            {"name":"default","description":"Default LXD profile","config":{"limits.cpu":"2","boot.autostart":"true"},
             "devices":{"root":{"path":"/","pool":"default","type":"disk"}},"used_by":["/1.0/instances/c1"],"project":"default"}
            """);
        Assert.Equal("""
            name: default
            description: Default LXD profile
            config:
              limits.cpu: "2"
              boot.autostart: "true"
            devices:
              root:
                path: /
                pool: default
                type: disk
            used_by:
            - /1.0/instances/c1
            project: default

            """.Replace("\r\n", "\n"), Formatter.ToYaml(profile));
    }

    [Fact]
    public void YamlKeepsTypesEmptyCollectionsAndOddKeys()
    {
        var yaml = Formatter.ToYaml(Json("""
            {"api_status":"stable","public":false,"server_pid":42,"config":{},"addresses":[],"x":null,"empty":"",
             "storage_supported_drivers":[{"Name":"dir","Version":"1","Remote":false}]}
            """));
        Assert.Contains("api_status: stable\n", yaml);
        Assert.Contains("public: false\n", yaml);
        Assert.Contains("server_pid: 42\n", yaml);
        Assert.Contains("config: {}\n", yaml);
        Assert.Contains("addresses: []\n", yaml);
        Assert.Contains("x: null\n", yaml);
        Assert.Contains("empty: \"\"\n", yaml);
        Assert.Contains("- Name: dir\n  Version: \"1\"\n  Remote: false\n", yaml);
        Assert.DoesNotContain("...", yaml);
    }

    [Fact]
    public void MultiLineStringsBecomeLiteralBlocks()
    {
        var pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        var yaml = Formatter.ToYaml(JsonSerializer.SerializeToElement(new Dictionary<string, string> { ["certificate"] = pem }));
        Assert.StartsWith("certificate: |", yaml);
        var back = Formatter.YamlToJson(yaml)!;
        Assert.Equal(pem, back["certificate"]!.GetValue<string>());
    }

    [Fact]
    public void ShowOutputParsesBackIntoTheSamePutBody()
    {
        var shown = Formatter.ToYaml(Json("""
            {"name":"p","description":"yes","config":{"limits.cpu":"2","security.nesting":"true","user.x":"null"},
             "devices":{"eth0":{"type":"nic","network":"lxdbr0"}},"used_by":[]}
            """));
        var put = ProfileCommands.ParseProfileYaml(shown);
        Assert.Equal("yes", put.Description);
        Assert.Equal(new Dictionary<string, string> { ["limits.cpu"] = "2", ["security.nesting"] = "true", ["user.x"] = "null" }, put.Config);
        Assert.Equal("nic", put.Devices!["eth0"]["type"]);
    }

    [Fact]
    public void EditedYamlWithUnquotedScalarsStaysStrings()
    {
        var put = ProfileCommands.ParseProfileYaml("description:\nconfig:\n  limits.cpu: 4\n  boot.autostart: true\n");
        Assert.Equal("", put.Description);
        Assert.Equal("4", put.Config!["limits.cpu"]);
        Assert.Equal("true", put.Config["boot.autostart"]);
        Assert.Empty(put.Devices!);
    }

    [Theory]
    [InlineData("config: [1, 2]\n", "Failed to parse YAML")]
    [InlineData("- a\n", "expected a mapping")]
    [InlineData("bogus_key: 1\n", "bogus_key")]
    [InlineData("config: {a: [\n", "Failed to parse YAML")]
    public void BadProfileYamlGivesAClearError(string yaml, string expected)
    {
        var e = Assert.Throws<CliException>(() => ProfileCommands.ParseProfileYaml(yaml));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void JsonIsCompactOneLine()
    {
        using var output = new StringWriter();
        Formatter.Write(output, Json("""{ "a" : [1, "b"] }"""), OutputFormat.Json);
        Assert.Equal("{\"a\":[1,\"b\"]}\n", output.ToString().Replace("\r\n", "\n"));
    }

    [Fact]
    public void TableCentresHeadersAndPadsCells()
    {
        var table = Formatter.Table(["NAME", "USED BY"], [["default", "3"], ["x", ""]]);
        Assert.Equal("""
            +---------+---------+
            |  NAME   | USED BY |
            +---------+---------+
            | default | 3       |
            +---------+---------+
            | x       |         |
            +---------+---------+

            """.Replace("\r\n", "\n"), table);
    }
}
