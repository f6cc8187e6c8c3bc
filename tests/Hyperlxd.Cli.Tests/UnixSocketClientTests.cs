using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Hyperlxd.Cli.Tests;

/// <summary>hlx against a stub daemon on $HYPERLXD_DIR/unix.socket: what it sends and how it reports.</summary>
public sealed class UnixSocketClientTests
{
    private const string ProfileP = """
        {"name":"p","description":"web","config":{"limits.cpu":"1"},"devices":{"root":{"type":"disk","path":"/","pool":"default"}},"used_by":[],"project":"default"}
        """;

    [Fact]
    public async Task ProfileListRequestsRecursionAndPrintsASortedTable()
    {
        using var cli = new TestCli();
        await using var stub = await StubServer.StartUnixAsync(cli.SocketPath, app =>
            app.MapGet("/1.0/profiles", () => StubServer.Sync("""
                [{"name":"web","description":"Web servers","config":{},"devices":{},"used_by":["/1.0/instances/a","/1.0/instances/b"]},
                 {"name":"default","description":"Default LXD profile","config":{},"devices":{},"used_by":[]}]
                """)));

        var result = await cli.RunAsync("profile", "list");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("/1.0/profiles?recursion=1", Assert.Single(stub.Requests).PathAndQuery);
        Assert.Equal("""
            +---------+---------------------+---------+
            |  NAME   |     DESCRIPTION     | USED BY |
            +---------+---------------------+---------+
            | default | Default LXD profile | 0       |
            +---------+---------------------+---------+
            | web     | Web servers         | 2       |
            +---------+---------------------+---------+

            """.Replace("\r\n", "\n"), result.Out);

        var json = await cli.RunAsync("profile", "list", "--format", "json");
        Assert.Equal("web", JsonDocument.Parse(json.Out).RootElement[0].GetProperty("name").GetString());
    }

    [Fact]
    public async Task ProfileSetGetsThenPutsWithIfMatchAndOnlyWritableFields()
    {
        using var cli = new TestCli();
        await using var stub = await StubServer.StartUnixAsync(cli.SocketPath, app =>
        {
            app.MapGet("/1.0/profiles/p", (HttpContext ctx) => StubServer.Sync(ProfileP, "etag-123", ctx));
            app.MapPut("/1.0/profiles/p", () => StubServer.Sync("{}"));
        });

        var result = await cli.RunAsync("profile", "set", "p", "limits.memory=1GiB", "user.note=a=b");

        Assert.Equal(0, result.ExitCode);
        var put = stub.Requests.Single(r => r.Method == "PUT");
        Assert.Equal("etag-123", put.IfMatch);
        using var body = JsonDocument.Parse(put.Body);
        Assert.Equal(["config", "description", "devices"], body.RootElement.EnumerateObject().Select(p => p.Name).Order());
        Assert.Equal("web", body.RootElement.GetProperty("description").GetString());
        Assert.Equal(
            new Dictionary<string, string> { ["limits.cpu"] = "1", ["limits.memory"] = "1GiB", ["user.note"] = "a=b" },
            body.RootElement.GetProperty("config").Deserialize<Dictionary<string, string>>());
        Assert.Equal("disk", body.RootElement.GetProperty("devices").GetProperty("root").GetProperty("type").GetString());

        var unset = await cli.RunAsync("profile", "unset", "p", "nope");
        Assert.Equal(1, unset.ExitCode);
        Assert.Equal("Error: Can't unset key 'nope', it's not currently set\n", unset.Err);
    }

    [Fact]
    public async Task ProfileEditReadsYamlFromStdinWhenNotATerminal()
    {
        using var cli = new TestCli();
        await using var stub = await StubServer.StartUnixAsync(cli.SocketPath, app =>
        {
            app.MapGet("/1.0/profiles/p", (HttpContext ctx) => StubServer.Sync(ProfileP, "e1", ctx));
            app.MapPut("/1.0/profiles/p", () => StubServer.Sync("{}"));
        });

        var yaml = "name: p\ndescription: edited\nconfig:\n  limits.cpu: 4\ndevices: {}\nused_by: []\n";
        var result = await cli.RunAsync(yaml, false, "profile", "edit", "p");

        Assert.Equal(0, result.ExitCode);
        var put = stub.Requests.Single(r => r.Method == "PUT");
        Assert.Equal("e1", put.IfMatch);
        Assert.Equal("""{"description":"edited","config":{"limits.cpu":"4"},"devices":{}}""", put.Body);
    }

    [Fact]
    public async Task AsyncResponseIsWaitedForAndAFailedOperationIsTheError()
    {
        using var cli = new TestCli();
        await using var stub = await StubServer.StartUnixAsync(cli.SocketPath, app =>
        {
            app.MapPost("/1.0/profiles", (HttpContext ctx) =>
            {
                var id = StubServer.BodyOf(ctx).Contains("\"bad\"") ? "op-bad" : "op-ok";
                return StubServer.Async(StubServer.Op(id, 103, "Running"), id);
            });
            app.MapGet("/1.0/operations/op-ok/wait", () => StubServer.Sync(StubServer.Op("op-ok", 200, "Success")));
            app.MapGet("/1.0/operations/op-bad/wait", () => StubServer.Sync(StubServer.Op("op-bad", 400, "Failure", "Storage pool is full")));
        });

        var ok = await cli.RunAsync("profile", "create", "good", "--description", "d");
        Assert.Equal(0, ok.ExitCode);
        Assert.Equal("Profile good created\n", ok.Out);
        Assert.Equal("""{"name":"good","description":"d","config":{},"devices":{}}""", stub.Requests[0].Body);
        Assert.Equal("/1.0/operations/op-ok/wait", stub.Requests[1].PathAndQuery);

        var bad = await cli.RunAsync("profile", "create", "bad");
        Assert.Equal(1, bad.ExitCode);
        Assert.Equal("Error: Storage pool is full\n", bad.Err);
        Assert.Equal("", bad.Out);
    }

    [Fact]
    public async Task WaitIsRepeatedWhileTheOperationIsStillRunning()
    {
        using var cli = new TestCli();
        var waits = 0;
        await using var stub = await StubServer.StartUnixAsync(cli.SocketPath, app =>
        {
            app.MapDelete("/1.0/profiles/slow", () => StubServer.Async(StubServer.Op("op1", 103, "Running"), "op1"));
            app.MapGet("/1.0/operations/op1/wait", () => Interlocked.Increment(ref waits) < 3
                ? StubServer.Sync(StubServer.Op("op1", 103, "Running"))
                : StubServer.Sync(StubServer.Op("op1", 200, "Success")));
        });

        var result = await cli.RunAsync("profile", "delete", "slow");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("Profile slow deleted\n", result.Out);
        Assert.Equal(3, waits);
    }

    [Fact]
    public async Task ErrorEnvelopeIsPrintedAsIs()
    {
        using var cli = new TestCli();
        await using var stub = await StubServer.StartUnixAsync(cli.SocketPath, app =>
            app.MapMethods("/1.0/profiles/{name}", ["GET", "DELETE", "POST"], () => StubServer.Error(404, "Profile not found")));

        foreach (var args in new[] { new[] { "profile", "show", "x" }, ["profile", "delete", "x"], ["profile", "rename", "x", "y"] })
        {
            var result = await cli.RunAsync(args);
            Assert.Equal(1, result.ExitCode);
            Assert.Equal("Error: Profile not found\n", result.Err);
        }

        Assert.Equal("""{"name":"y"}""", stub.Requests.Single(r => r.Method == "POST").Body);
    }

    [Fact]
    public async Task OperationListFlattensTheStatusMap()
    {
        using var cli = new TestCli();
        await using var stub = await StubServer.StartUnixAsync(cli.SocketPath, app =>
            app.MapGet("/1.0/operations", () => StubServer.Sync($$"""
                {"running":[{{StubServer.Op("b2", 103, "Running", description: "Exec", created: "2024-05-06T07:08:09Z", mayCancel: true)}}],
                 "success":[{{StubServer.Op("a1", 200, "Success", created: "2024-05-06T07:00:00Z")}}]}
                """)));

        var table = await cli.RunAsync("operation", "list");
        Assert.Equal(0, table.ExitCode);
        Assert.Equal("/1.0/operations?recursion=1", stub.Requests[0].PathAndQuery);
        var lines = table.Out.Split('\n');
        Assert.Equal("| ID | CLASS |   DESCRIPTION    | STATUS  | CANCELABLE |       CREATED        |", lines[1]);
        Assert.Equal("| a1 | task  | Creating profile | Success | NO         | 2024/05/06 07:00 UTC |", lines[3]);
        Assert.Equal("| b2 | task  | Exec             | Running | YES        | 2024/05/06 07:08 UTC |", lines[5]);

        var json = await cli.RunAsync("operation", "list", "--format", "json");
        Assert.Equal(["b2", "a1"], JsonDocument.Parse(json.Out).RootElement.EnumerateArray().Select(o => o.GetProperty("id").GetString()));
    }

    [Fact]
    public async Task RemotePrefixSelectsAnotherUnixRemoteForInfo()
    {
        using var cli = new TestCli();
        var otherSocket = Path.Combine(cli.Root, "other.socket");
        await using var stub = await StubServer.StartUnixAsync(otherSocket, app =>
            app.MapGet("/1.0", () => StubServer.Sync("""{"api_version":"1.0","auth":"trusted","auth_methods":["tls"],"environment":{"server_name":"other"}}""")));

        Assert.Equal(0, (await cli.RunAsync("remote", "add", "o", "unix://" + otherSocket)).ExitCode);
        var info = await cli.RunAsync("info", "o:");

        Assert.Equal(0, info.ExitCode);
        Assert.Equal("api_version: \"1.0\"\nauth: trusted\nauth_methods:\n- tls\nenvironment:\n  server_name: other\n", info.Out);

        // The default remote (local) has no daemon: a clear error, exit 1.
        var local = await cli.RunAsync("info");
        Assert.Equal(1, local.ExitCode);
        Assert.Contains("does not exist (is hyperlxd running?)", local.Err);
    }
}

/// <summary>Interactive edit and device add, each against its own stub.</summary>
public sealed class ProfileEditorAndDeviceTests
{
    private const string ProfileP = """{"name":"p","description":"","config":{},"devices":{},"used_by":[]}""";

    private static Task<StubServer> StartAsync(TestCli cli) => StubServer.StartUnixAsync(cli.SocketPath, app =>
    {
        app.MapGet("/1.0/profiles/p", (HttpContext ctx) => StubServer.Sync(ProfileP, "e9", ctx));
        app.MapPut("/1.0/profiles/p", () => StubServer.Sync("{}"));
    });

    [Fact]
    public async Task EditOnATerminalOpensEditorOnTheShownYaml()
    {
        using var cli = new TestCli();
        await using var stub = await StartAsync(cli);
        // The "editor" checks it got the YAML and changes the description in place.
        var script = Path.Combine(cli.Root, "ed.sh");
        File.WriteAllText(script, "#!/bin/sh\ngrep -q '^name: p$' \"$1\" || exit 3\nsed -i 's/^description: \"\"$/description: from editor/' \"$1\"\n");
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        cli.Env["EDITOR"] = script;

        var result = await cli.RunAsync("", true, "profile", "edit", "p");

        Assert.Equal(0, result.ExitCode);
        var put = stub.Requests.Single(r => r.Method == "PUT");
        Assert.Equal("e9", put.IfMatch);
        Assert.Equal("""{"description":"from editor","config":{},"devices":{}}""", put.Body);
    }

    [Fact]
    public async Task DeviceAddAcceptsTypeEitherWay()
    {
        using var cli = new TestCli();
        await using var stub = await StartAsync(cli);

        var result = await cli.RunAsync("profile", "device", "add", "p", "root", "type=disk", "path=/", "pool=default");
        var positional = await cli.RunAsync("profile", "device", "add", "p", "eth0", "nic", "network=lxdbr0");
        var missing = await cli.RunAsync("profile", "device", "add", "p", "x", "path=/");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("Device root added to p\n", result.Out);
        var puts = stub.Requests.Where(r => r.Method == "PUT").ToList();
        Assert.Equal("""{"description":"","config":{},"devices":{"root":{"type":"disk","path":"/","pool":"default"}}}""", puts[0].Body);
        Assert.Equal(0, positional.ExitCode);
        Assert.Equal("""{"description":"","config":{},"devices":{"eth0":{"type":"nic","network":"lxdbr0"}}}""", puts[1].Body);
        Assert.Equal(2, missing.ExitCode);
        Assert.StartsWith("Error: Missing device type", missing.Err);
    }
}
