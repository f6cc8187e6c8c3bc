using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Hyperlxd.Api;
using Hyperlxd.Cli.Commands;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Hyperlxd.Cli.Tests;

/// <summary>Parsing and formatting of the storage and instance verbs, and what they send to a stub daemon.</summary>
public sealed class StorageInstanceCommandTests
{
    [Fact]
    public void RepeatableAndShortFlagsKeepEveryValueInOrder()
    {
        var parsed = ArgParser.Parse(["launch", "busybox", "c1", "-p", "default", "--profile=web", "-c", "limits.cpu=1", "-f"]);
        Assert.Equal(["launch", "busybox", "c1"], parsed.Positionals);
        Assert.Equal(["default", "web"], parsed.GetAll("profile"));
        Assert.Equal(["limits.cpu=1"], parsed.GetAll("config"));
        Assert.True(parsed.Has("force"));
    }

    [Fact]
    public void ExecArgumentsAfterDoubleDashAreNotFlags()
    {
        var parsed = ArgParser.Parse(["exec", "c1", "--", "sh", "-c", "echo -p"]);
        Assert.Equal(["exec", "c1", "sh", "-c", "echo -p"], parsed.Positionals);
        Assert.Empty(parsed.Flags);
    }

    [Fact]
    public void PoolTableHasLxcColumnsAndUpperCaseState()
    {
        var table = StorageCommands.PoolTable(
        [
            new StoragePool { Name = "zeta", Driver = "dir", Config = new() { ["source"] = "/srv/z" }, Status = "Created" },
            new StoragePool { Name = "default", Driver = "btrfs", Description = "main", UsedBy = ["/1.0/profiles/default", "/1.0/instances/c1"], Status = "Created" },
        ]);
        Assert.Equal("""
            +---------+--------+--------+-------------+---------+---------+
            |  NAME   | DRIVER | SOURCE | DESCRIPTION | USED BY |  STATE  |
            +---------+--------+--------+-------------+---------+---------+
            | default | btrfs  |        | main        | 2       | CREATED |
            +---------+--------+--------+-------------+---------+---------+
            | zeta    | dir    | /srv/z |             | 0       | CREATED |
            +---------+--------+--------+-------------+---------+---------+

            """.Replace("\r\n", "\n"), table);
    }

    [Fact]
    public void VolumeTableMarksSnapshots()
    {
        var table = StorageCommands.VolumeTable(
        [
            new StorageVolume { Name = "v1/snap0", Type = "custom" },
            new StorageVolume { Name = "v1", Type = "custom", UsedBy = ["/1.0/instances/c1"] },
            new StorageVolume { Name = "c1", Type = "container" },
        ]);
        var rows = table.Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal)).Skip(1)
            .Select(l => string.Join(' ', l.Split('|', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))).ToList();
        Assert.Equal(["container c1 filesystem 0", "custom v1 filesystem 1", "custom (snapshot) v1/snap0 filesystem 0"], rows);
        var header = table.Split('\n')[1].Split('|', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["TYPE", "NAME", "DESCRIPTION", "CONTENT-TYPE", "USED BY"], header);
    }

    [Theory]
    [InlineData(0UL, "0B")]
    [InlineData(1023UL, "1023B")]
    [InlineData(1536UL, "1.50KiB")]
    [InlineData(10UL * 1024 * 1024 * 1024, "10.00GiB")]
    public void ByteSizesAreIecWithTwoDecimals(ulong bytes, string expected) =>
        Assert.Equal(expected, StorageCommands.ByteSize(bytes));

    [Fact]
    public void PoolInfoGroupsUsersByKind()
    {
        var pool = new StoragePool
        {
            Name = "default", Driver = "btrfs",
            UsedBy = ["/1.0/instances/c1", "/1.0/profiles/default", "/1.0/storage-pools/default/volumes/custom/v1?project=default"],
        };
        var yaml = Output.Formatter.ToYaml(StorageCommands.PoolInfo(pool, new StoragePoolResources { Space = new() { Used = 2048, Total = 1 << 30 } }));
        Assert.Contains("space used: 2.00KiB", yaml);
        Assert.Contains("total space: 1.00GiB", yaml);
        Assert.Contains("instances:\n  - c1", yaml);
        Assert.Contains("volumes:\n  - custom/v1", yaml);
    }

    [Fact]
    public void VolumePathsEscapeAndAddressSnapshots()
    {
        Assert.Equal("/1.0/storage-pools/p/volumes/custom/v1", StorageCommands.VolumePath("p", "v1"));
        Assert.Equal("/1.0/storage-pools/p/volumes/custom/v1/snapshots/s%20a", StorageCommands.VolumePath("p", "v1/s a"));
    }

    [Fact]
    public void InstanceTableListsGlobalAddressesPerNic()
    {
        var c1 = new InstanceFull
        {
            Name = "c1", Status = "Running", Snapshots = [new InstanceSnapshot { Name = "s0" }],
            State = new InstanceState
            {
                Network = new()
                {
                    ["lo"] = new() { Addresses = [new() { Family = "inet", Address = "127.0.0.1", Scope = "local" }] },
                    ["eth0"] = new()
                    {
                        Addresses =
                        [
                            new() { Family = "inet", Address = "10.0.0.2", Scope = "global" },
                            new() { Family = "inet6", Address = "fe80::1", Scope = "link" },
                            new() { Family = "inet6", Address = "fd00::2", Scope = "global" },
                        ],
                    },
                },
            },
        };
        var c2 = new InstanceFull { Name = "b2", Status = "Stopped", Ephemeral = true };
        var table = InstanceCommands.InstanceTable([c1, c2]);
        var lines = table.Split('\n');
        Assert.Equal(["NAME", "STATE", "IPV4", "IPV6", "TYPE", "SNAPSHOTS"], lines[1].Split('|', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains(lines, l => l.StartsWith("| b2 ") && l.Contains("STOPPED") && l.Contains("CONTAINER (EPHEMERAL)"));
        Assert.Contains(lines, l => l.StartsWith("| c1 ") && l.Contains("RUNNING") && l.Contains("10.0.0.2 (eth0)") && l.Contains("fd00::2 (eth0)") && l.Contains("| 1 "));
        Assert.DoesNotContain("127.0.0.1", table);
        Assert.DoesNotContain("fe80::1", table);
        Assert.True(Array.FindIndex(lines, l => l.StartsWith("| b2 ")) < Array.FindIndex(lines, l => l.StartsWith("| c1 ")));
    }

    [Fact]
    public void CreateRequestUsesAliasOrFingerprintAndLeavesProfilesToTheServer()
    {
        var alias = InstanceCommands.CreateRequest("busybox", true, "c1", [], ["limits.cpu=1"]);
        Assert.Equal("busybox", alias.Source!.Alias);
        Assert.Null(alias.Source.Fingerprint);
        Assert.Null(alias.Profiles);
        Assert.Equal("1", alias.Config!["limits.cpu"]);
        var fp = InstanceCommands.CreateRequest("abc123", false, null, ["default", "web"], []);
        Assert.Equal("abc123", fp.Source!.Fingerprint);
        Assert.Equal(["default", "web"], fp.Profiles);
        Assert.Throws<UsageException>(() => InstanceCommands.CreateRequest("x", true, "c", [], ["novalue"]));
    }

    [Theory]
    [InlineData("c1/etc/hosts", "c1", "/etc/hosts")]
    [InlineData("c1/tmp/", "c1", "/tmp/")]
    public void FileTargetsSplitNameAndPath(string arg, string name, string path)
    {
        var (_, n, p) = InstanceCommands.FileTarget(a => ("local", a), arg);
        Assert.Equal((name, path), (n, p));
    }

    [Theory]
    [InlineData("c1")]
    [InlineData("/etc/hosts")]
    [InlineData("c1/")]
    public void BadFileTargetsAreUsageErrors(string arg) =>
        Assert.Throws<UsageException>(() => InstanceCommands.FileTarget(a => ("local", a), arg));

    [Fact]
    public void ModesAreOctal()
    {
        Assert.Equal("0644", InstanceCommands.ParseMode("644"));
        Assert.Equal("0755", InstanceCommands.ParseMode("0755"));
        Assert.Null(InstanceCommands.ParseMode(null));
        Assert.Throws<UsageException>(() => InstanceCommands.ParseMode("0968"));
    }

    [Fact]
    public void ExecReadsSecretsAndReturnCode()
    {
        using var op = JsonDocument.Parse("""{"id":"x","metadata":{"fds":{"0":"a","1":"b","2":"c","control":"d"},"return":7}}""");
        Assert.Equal("d", InstanceCommands.Secrets(op.RootElement)["control"]);
        Assert.Equal(7, InstanceCommands.ReturnCode(op.RootElement));
    }

    [Fact]
    public async Task StorageCreateSendsNameDriverAndConfig()
    {
        using var cli = new TestCli();
        await using var stub = await StubServer.StartUnixAsync(cli.SocketPath, app =>
            app.MapPost("/1.0/storage-pools", () => StubServer.Sync("{}")));

        var result = await cli.RunAsync("storage", "create", "p1", "btrfs", "size=1GiB");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("Storage pool p1 created\n", result.Out);
        using var body = JsonDocument.Parse(Assert.Single(stub.Requests).Body);
        Assert.Equal("p1", body.RootElement.GetProperty("name").GetString());
        Assert.Equal("btrfs", body.RootElement.GetProperty("driver").GetString());
        Assert.Equal("1GiB", body.RootElement.GetProperty("config").GetProperty("size").GetString());
    }

    [Fact]
    public async Task VolumeSnapshotWaitsForTheOperationAndReportsItsError()
    {
        using var cli = new TestCli();
        await using var stub = await StubServer.StartUnixAsync(cli.SocketPath, app =>
        {
            app.MapPost("/1.0/storage-pools/p/volumes/custom/v1/snapshots", () =>
                StubServer.Async(StubServer.Op("op1", 103, "Running"), "op1"));
            app.MapGet("/1.0/operations/op1/wait", () =>
                StubServer.Sync(StubServer.Op("op1", 400, "Failure", err: "Snapshot \\\"s1\\\" already exists")));
        });

        var result = await cli.RunAsync("storage", "volume", "snapshot", "p", "v1", "s1");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("already exists", result.Err);
        Assert.Equal("""{"name":"s1"}""", stub.Requests[0].Body);
        Assert.Equal("/1.0/operations/op1/wait", stub.Requests[1].PathAndQuery);
    }

    [Fact]
    public async Task ExecCopiesStreamsOverWebsocketsAndExitsWithTheReturnCode()
    {
        using var cli = new TestCli();
        string? stdin = null;
        await using var stub = await StubServer.StartUnixAsync(cli.SocketPath, app =>
        {
            app.UseWebSockets();
            app.MapPost("/1.0/instances/c1/exec", () => StubServer.Async(
                """{"id":"op2","class":"websocket","description":"Executing command","created_at":"2024-01-02T03:04:05Z","updated_at":"2024-01-02T03:04:05Z","status":"Running","status_code":103,"resources":{},"metadata":{"fds":{"0":"s0","1":"s1","2":"s2","control":"sc"}},"may_cancel":false,"err":"","location":"none"}""",
                "op2"));
            app.MapGet("/1.0/operations/op2/websocket", async (HttpContext ctx) =>
            {
                using var ws = await ctx.WebSockets.AcceptWebSocketAsync();
                switch (ctx.Request.Query["secret"].ToString())
                {
                    case "s0":
                        var buffer = new byte[1024];
                        var received = new MemoryStream();
                        while (true)
                        {
                            var r = await ws.ReceiveAsync(buffer, CancellationToken.None);
                            if (r.MessageType != WebSocketMessageType.Binary)
                                break;
                            received.Write(buffer, 0, r.Count);
                        }

                        stdin = Encoding.UTF8.GetString(received.ToArray());
                        break;
                    case "s1":
                        await ws.SendAsync(Encoding.UTF8.GetBytes("hello "), WebSocketMessageType.Binary, true, CancellationToken.None);
                        await ws.SendAsync(Encoding.UTF8.GetBytes("world\n"), WebSocketMessageType.Binary, true, CancellationToken.None);
                        await ws.SendAsync(ReadOnlyMemory<byte>.Empty, WebSocketMessageType.Text, true, CancellationToken.None);
                        break;
                    case "s2":
                        await ws.SendAsync(Encoding.UTF8.GetBytes("oops\n"), WebSocketMessageType.Binary, true, CancellationToken.None);
                        await ws.SendAsync(ReadOnlyMemory<byte>.Empty, WebSocketMessageType.Text, true, CancellationToken.None);
                        break;
                    default:
                        // Control: held open until the client goes away.
                        try
                        {
                            await ws.ReceiveAsync(new byte[64], ctx.RequestAborted);
                        }
                        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
                        {
                        }

                        return;
                }

                await ws.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
            });
            app.MapGet("/1.0/operations/op2/wait", () => StubServer.Sync(
                """{"id":"op2","class":"websocket","description":"Executing command","created_at":"2024-01-02T03:04:05Z","updated_at":"2024-01-02T03:04:05Z","status":"Success","status_code":200,"resources":{},"metadata":{"return":3},"may_cancel":false,"err":"","location":"none"}"""));
        });

        var result = await cli.RunAsync("piped input", false, "exec", "c1", "--", "sh", "-c", "cat; exit 3");

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Equal("hello world\n", result.Out);
        Assert.Equal("oops\n", result.Err);
        var exec = stub.Requests.First(r => r.Method == "POST");
        using var body = JsonDocument.Parse(exec.Body);
        Assert.Equal(["sh", "-c", "cat; exit 3"], body.RootElement.GetProperty("command").EnumerateArray().Select(e => e.GetString()));
        Assert.True(body.RootElement.GetProperty("wait-for-websocket").GetBoolean());
        Assert.False(body.RootElement.GetProperty("interactive").GetBoolean());
        Assert.Equal("piped input", stdin);
    }
}
