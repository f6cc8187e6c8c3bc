using System.Diagnostics;
using Hyperlxd.Core;
using Hyperlxd.Core.Devices;
using Hyperlxd.Instances;
using Hyperlxd.Instances.Proxy;
using Hyperlxd.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hyperlxd.Tests.Instances;

/// <summary>
/// The forwarder supervisor with the real <c>hyperlxd-nsexec proxy</c> between two network namespaces
/// the test creates (never the host's): an echo server on the loopback of "inst" stands for the
/// instance; the forwarders run in "host" (the helper path is a wrapper that enters it), the client too.
/// Start, relay, a taken port (409), restart after kill -9, adoption by a new supervisor (daemon
/// restart), stop.
/// </summary>
public sealed class ProxyForwarderTests : IAsyncLifetime
{
    private readonly string _id = Guid.NewGuid().ToString("N")[..6];
    private readonly string _dir = Repo.TempDir("hlx-fwd-");
    private Process? _echo;

    private string Inst => $"hlx-test-{_id}-i";

    private string HostNs => $"hlx-test-{_id}-h";

    private static string RealNsexec =>
        new[] { Path.Combine(Repo.Root, "native-shims", "build", "bin", "hyperlxd-nsexec"), Path.Combine(Repo.Root, "artifacts", "bin", "hyperlxd-nsexec") }
            .First(File.Exists);

    private static async Task<string> RunAsync(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.True(p.ExitCode == 0, $"{program} {string.Join(' ', args)}: {await error}");
        return await output;
    }

    public async Task InitializeAsync()
    {
        await RunAsync("ip", "netns", "add", Inst);
        await RunAsync("ip", "netns", "add", HostNs);
        await RunAsync("ip", "-n", Inst, "link", "set", "lo", "up");
        await RunAsync("ip", "-n", HostNs, "link", "set", "lo", "up");
        var psi = new ProcessStartInfo("ip") { RedirectStandardOutput = true };
        foreach (var a in new[] { "netns", "exec", Inst, "python3", "-c", EchoServer })
        {
            psi.ArgumentList.Add(a);
        }
        _echo = Process.Start(psi)!;
        Assert.Equal("up", await _echo.StandardOutput.ReadLineAsync());
        var wrapper = Path.Combine(_dir, "hyperlxd-nsexec");
        await File.WriteAllTextAsync(wrapper, $"#!/bin/sh\nexec ip netns exec {HostNs} {RealNsexec} \"$@\"\n");
        File.SetUnixFileMode(wrapper, (UnixFileMode)0b111_101_101);
    }

    public async Task DisposeAsync()
    {
        if (_echo is not null)
        {
            _echo.Kill();
            await _echo.WaitForExitAsync();
            _echo.Dispose();
        }
        await RunAsync("ip", "netns", "del", Inst);
        await RunAsync("ip", "netns", "del", HostNs);
        Directory.Delete(_dir, true);
    }

    private const string EchoServer = """
        import socket, threading
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 7000)); s.listen()
        print("up", flush=True)
        def serve(c):
            while True:
                d = c.recv(65536)
                if not d: break
                c.sendall(d)
            c.close()
        while True:
            c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
        """;

    private Task<string> ClientAsync(int port) => RunAsync("ip", "netns", "exec", HostNs, "python3", "-c",
        $"import socket; c = socket.create_connection(('127.0.0.1', {port}), timeout=20); c.sendall(b'hi'); c.shutdown(socket.SHUT_WR); print(c.recv(100).decode())");

    private ProxyForwarders Supervisor() => new(new InstanceManagerOptions(_dir) { HelpersDir = _dir }, NullLogger<ProxyForwarders>.Instance);

    private string PidFile(string device) => Path.Combine(_dir, "instances", "c1", $"proxy.{device}.pid");

    private int Pid(string device) => int.Parse(File.ReadLines(PidFile(device)).First());

    private static bool Alive(int pid) => File.Exists($"/proc/{pid}/stat") && !File.ReadAllText($"/proc/{pid}/stat").Split(')')[1].TrimStart().StartsWith('Z');

    [Fact]
    public async Task Forwarders_relay_into_the_instance_are_restarted_adopted_and_stopped()
    {
        var forward = new ProxyForward("c1", "web", $"/proc/{_echo!.Id}/ns/net", "tcp:127.0.0.1:8000", "tcp:127.0.0.1:7000", null, null);
        var first = Supervisor();
        await first.StartAsync(forward, CancellationToken.None);
        var pid = Pid("web");
        Assert.Equal("hi", (await ClientAsync(8000)).Trim());

        // The same port for another device: a 409 naming it, no pid file left.
        var e = await Assert.ThrowsAsync<ConflictException>(() => first.StartAsync(forward with { Device = "other" }, CancellationToken.None));
        Assert.Contains("port 8000: address already in use", e.Message);
        Assert.Contains("\"other\"", e.Message);
        Assert.False(File.Exists(PidFile("other")));

        // Killed: started again by the supervisor, and serving.
        Process.GetProcessById(pid).Kill();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((!File.Exists(PidFile("web")) || Pid("web") == pid) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }
        var restarted = Pid("web");
        Assert.NotEqual(pid, restarted);
        Assert.Equal("hi", (await ClientAsync(8000)).Trim());

        // The daemon goes (the forwarder stays), the next one adopts it instead of starting a second.
        first.Dispose();
        Assert.True(Alive(restarted));
        using var second = Supervisor();
        await second.StartAsync(forward, CancellationToken.None);
        Assert.Equal(restarted, Pid("web"));
        Assert.Equal("hi", (await ClientAsync(8000)).Trim());

        await second.StopAsync("c1", "web", CancellationToken.None);
        Assert.False(File.Exists(PidFile("web")));
        deadline = DateTime.UtcNow.AddSeconds(30);
        while (Alive(restarted) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }
        Assert.False(Alive(restarted));
        await second.StopAsync("c1", "web", CancellationToken.None); // safe to repeat
    }
}
