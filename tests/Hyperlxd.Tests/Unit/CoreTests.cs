using System.Text.Json;
using Hyperlxd.Api;
using Hyperlxd.Core;
using Hyperlxd.Core.Events;
using Hyperlxd.Core.Operations;
using Hyperlxd.Core.Query;
using Hyperlxd.Daemon.Http;
using Hyperlxd.Daemon.Security;
using Microsoft.Extensions.Logging.Abstractions;

namespace Hyperlxd.Tests.Unit;

public sealed class CoreTests
{
    private static readonly JsonElement Sample = JsonDocument.Parse("""
        {"name":"web","description":"Web tier","config":{"limits.cpu":"2","user.tier":"front"},"used_by":[]}
        """).RootElement;

    [Theory]
    [InlineData("name eq web", true)]
    [InlineData("name eq db", false)]
    [InlineData("name ne db", true)]
    [InlineData("not name eq web", false)]
    [InlineData("config.limits.cpu eq 2", true)]
    [InlineData("config.user.tier eq front and name eq web", true)]
    [InlineData("config.user.tier eq back or name eq web", true)]
    [InlineData("description eq 'Web tier'", true)]
    [InlineData("name eq w.*", true)]
    [InlineData("missing.field eq x", false)]
    public void Filters_match_as_lxd_does(string filter, bool expected) =>
        Assert.Equal(expected, ApiFilter.Parse(filter)!.Matches(Sample));

    [Theory]
    [InlineData("name")]
    [InlineData("name eq")]
    [InlineData("name lt 3")]
    [InlineData("name eq a xor name eq b")]
    [InlineData("name eq 'open")]
    public void Malformed_filters_are_bad_requests(string filter) =>
        Assert.Throws<BadRequestException>(() => ApiFilter.Parse(filter));

    [Fact]
    public async Task Reverter_undoes_in_reverse_unless_success()
    {
        var log = new List<int>();
        await using (var r = new Reverter())
        {
            r.Add(() => log.Add(1));
            r.Add(() => throw new InvalidOperationException("undo failed"));
            r.Add(() => log.Add(3));
        }
        Assert.Equal(new[] { 3, 1 }, log);
        await using (var r = new Reverter())
        {
            r.Add(() => log.Add(9));
            r.Success();
        }
        Assert.Equal(new[] { 3, 1 }, log);
    }

    [Fact]
    public async Task Operations_finish_with_their_outcome_and_publish_events()
    {
        var hub = new EventHub();
        using var listener = hub.Subscribe(new[] { EventHub.Operation });
        var ops = new OperationManager(hub, NullLogger<OperationManager>.Instance);
        var ok = ops.Start(OperationClass.Task, "ok", (op, _) => { op.SetMetadata("answer", 42); return Task.CompletedTask; });
        var bad = ops.Start(OperationClass.Task, "bad", (_, _) => throw new ConflictException("taken"));
        await Task.WhenAll(ok.Completion, bad.Completion);
        Assert.Equal(StatusCode.Success, ok.Status);
        Assert.Equal(42, ok.ToApi().Metadata!["answer"]);
        Assert.Equal(StatusCode.Failure, bad.Status);
        Assert.Equal("taken", bad.ToApi().Err);

        var events = new List<Api.Operation>();
        while (listener.Reader.TryRead(out var bytes))
        {
            events.Add(JsonSerializer.Deserialize(JsonSerializer.Deserialize(bytes, ApiJsonContext.Default.Event)!.Metadata, ApiJsonContext.Default.Operation)!);
        }
        Assert.Contains(events, e => e.Id == ok.Id && e.StatusCode == 200);
        Assert.Contains(events, e => e.Id == bad.Id && e.StatusCode == 400 && e.Err == "taken");
    }

    [Fact]
    public async Task Task_operations_cannot_be_cancelled_unless_they_say_so()
    {
        var ops = new OperationManager(new EventHub(), NullLogger<OperationManager>.Instance);
        var gate = new TaskCompletionSource();
        var op = ops.Start(OperationClass.Task, "slow", (_, _) => gate.Task);
        var e = await Assert.ThrowsAsync<BadRequestException>(() => ops.CancelAsync(op.Id));
        Assert.Contains("can't be cancelled", e.Message);
        gate.SetResult();
        await op.Completion;

        var cancellable = ops.Start(OperationClass.Task, "waits", (_, ct) => Task.Delay(Timeout.Infinite, ct), mayCancel: true);
        await ops.CancelAsync(cancellable.Id);
        await cancellable.Completion;
        Assert.Equal(StatusCode.Cancelled, cancellable.Status);
    }

    [Fact]
    public void Trust_passwords_are_salted_hashes()
    {
        var a = TrustPassword.Hash("pw");
        var b = TrustPassword.Hash("pw");
        Assert.NotEqual(a, b);
        Assert.DoesNotContain("pw$", a);
        Assert.True(TrustPassword.Verify("pw", a));
        Assert.False(TrustPassword.Verify("pW", a));
        Assert.False(TrustPassword.Verify("pw", "plain"));
    }

    [Fact]
    public void Json_errors_name_the_unknown_field()
    {
        var e = Assert.ThrowsAny<JsonException>(() => JsonSerializer.Deserialize("""{"name":"x","colour":1}""", ApiJsonContext.Default.ProfilesPost));
        Assert.Equal("Unknown field \"colour\" in request body", RequestBody.Describe(e));
    }
}
