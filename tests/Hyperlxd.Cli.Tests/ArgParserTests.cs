namespace Hyperlxd.Cli.Tests;

public class ArgParserTests
{
    [Fact]
    public void SplitsPositionalsAndFlagsInBothForms()
    {
        var parsed = ArgParser.Parse(["profile", "list", "--format", "json", "r:", "--description=a b"]);
        Assert.Equal(["profile", "list", "r:"], parsed.Positionals);
        Assert.Equal("json", parsed.Get("format"));
        Assert.Equal("a b", parsed.Get("description"));
    }

    [Fact]
    public void DoubleDashEndsFlags()
    {
        var parsed = ArgParser.Parse(["profile", "set", "p", "--", "k", "--format"]);
        Assert.Equal(["profile", "set", "p", "k", "--format"], parsed.Positionals);
        Assert.False(parsed.Has("format"));
    }

    [Fact]
    public void BooleanFlagsTakeNoSeparateValue()
    {
        var parsed = ArgParser.Parse(["remote", "add", "--accept-certificate", "r", "https://h"]);
        Assert.True(parsed.Has("accept-certificate"));
        Assert.Equal(["remote", "add", "r", "https://h"], parsed.Positionals);
        Assert.False(ArgParser.Parse(["--accept-certificate=false"]).Has("accept-certificate"));
        Assert.Throws<UsageException>(() => ArgParser.Parse(["--accept-certificate=maybe"]));
    }

    [Fact]
    public void UnknownFlagAndMissingValueAreUsageErrors()
    {
        var unknown = Assert.Throws<UsageException>(() => ArgParser.Parse(["info", "--bogus"]));
        Assert.Contains("--bogus", unknown.Message);
        var missing = Assert.Throws<UsageException>(() => ArgParser.Parse(["info", "--format"]));
        Assert.Contains("--format needs an argument", missing.Message);
        Assert.Throws<UsageException>(() => ArgParser.Parse(["-x"]));
    }

    [Theory]
    [InlineData(new string[0], "Missing command")]
    [InlineData(new[] { "frob" }, "Unknown command \"frob\"")]
    [InlineData(new[] { "profile", "frob" }, "Unknown command \"hlx profile frob\"")]
    [InlineData(new[] { "profile" }, "Missing subcommand for \"hlx profile\"")]
    [InlineData(new[] { "profile", "show" }, "Missing argument for \"hlx profile show\"")]
    [InlineData(new[] { "profile", "rename", "a", "b", "c" }, "Too many arguments for \"hlx profile rename\": unexpected \"c\"")]
    [InlineData(new[] { "remote", "list", "--description", "x" }, "Unknown flag \"--description\" for \"hlx remote list\"")]
    [InlineData(new[] { "profile", "list", "--format", "xml" }, "Invalid format \"xml\"")]
    [InlineData(new[] { "profile", "show", "p", "--format", "table" }, "Invalid format \"table\"")]
    [InlineData(new[] { "profile", "set", "p", "a=1", "b" }, "Invalid key=value configuration: b")]
    public async Task BadInputExitsTwoNamingTheProblemAndPrintsUsage(string[] args, string message)
    {
        using var cli = new TestCli();
        var result = await cli.RunAsync(args);
        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("Error: " + message, result.Err);
        Assert.Contains("Usage: hlx", result.Err);
        Assert.Equal("", result.Out);
    }

    [Fact]
    public async Task AliasesAndNestedVerbsResolve()
    {
        using var cli = new TestCli();
        var ls = await cli.RunAsync("remote", "ls");
        Assert.Equal(0, ls.ExitCode);
        var help = await cli.RunAsync("profile", "device", "add", "--help");
        Assert.Equal(0, help.ExitCode);
        Assert.StartsWith("Usage: hlx profile device add [REMOTE:]NAME DEVICE", help.Out);
    }

    [Fact]
    public void KeyValueFormsMatchLxc()
    {
        Assert.Equal(new Dictionary<string, string> { ["limits.cpu"] = "2" },
            Commands.ProfileCommands.ParseKeyValues(["limits.cpu", "2"]));
        Assert.Equal(new Dictionary<string, string> { ["a"] = "1", ["b"] = "x=y", ["c"] = "" },
            Commands.ProfileCommands.ParseKeyValues(["a=1", "b=x=y", "c="]));
        Assert.Throws<UsageException>(() => Commands.ProfileCommands.ParseKeyValues(["=1"]));
    }
}
