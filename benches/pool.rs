//! Benchmarks: the connection pool against deadpool and bb8, over the same TCP connector.
//!
//! Every contender pools `tokio::net::TcpStream`s to one [`TestServer`] on 127.0.0.1, opened
//! by the same connect and checked by the same non-blocking peek on every check-out
//! (racekit's `Connector::validate`, deadpool's `recycle`, bb8's `is_valid` with its default
//! `test_on_check_out`). Connections are opened during warm-up, so the samples time the
//! pools' own bookkeeping and hand-off, not TCP.
//!
//! - `pool/get_return_uncontended`: one task on a current-thread runtime gets a connection
//!   and drops it, over and over (a pool of 4, so one is always idle).
//! - `pool/throughput_contended`: 8 tasks on a 2-worker runtime share a pool of 2; each gets
//!   a connection, yields once while holding it (standing for a query), and drops it. Most
//!   gets wait, so this times the waiting and the hand-off.
//!
//! Runtimes and pools are built once per contender and every sample is timed with
//! `iter_custom`; each group runs its contenders in the same process, one after another, on
//! the same work, so their ratio survives a machine whose speed drifts slowly. Run with
//! `cargo bench --bench pool` (final figures on a quiet machine) or `-- --quick`.

// criterion and the baselines are dev-dependencies of the std build only: the model builds
// compile an empty bench.
#[cfg(not(any(racekit_loom, racekit_shuttle)))]
mod contenders {
    use criterion::{criterion_group, BenchmarkId, Criterion, Throughput};
    use racekit::pool::tcp::{AsyncTcpConnector, TestServer};
    use racekit::pool::{AsyncConnector, Pool};
    use std::future::Future;
    use std::io;
    use std::net::SocketAddr;
    use std::time::{Duration, Instant};
    use tokio::net::TcpStream;
    use tokio::runtime::Runtime;

    const UNCONTENDED_POOL: usize = 4;
    const CONTENDED_POOL: usize = 2;
    const CONTENDED_TASKS: u64 = 8;

    /// What the benches need of a pool: one get, a hold of `yields` scheduler yields, and
    /// the return.
    trait BenchPool: Clone + Send + Sync + 'static {
        fn build(addr: SocketAddr, max_size: usize, runtime: &Runtime) -> Self;
        fn get_and_return(&self, yields: usize) -> impl Future<Output = ()> + Send;
    }

    async fn hold(yields: usize) {
        for _ in 0..yields {
            tokio::task::yield_now().await;
        }
    }

    impl BenchPool for Pool<AsyncTcpConnector> {
        fn build(addr: SocketAddr, max_size: usize, _runtime: &Runtime) -> Self {
            Pool::new(AsyncTcpConnector::new(addr), max_size).expect("a valid pool size")
        }
        async fn get_and_return(&self, yields: usize) {
            let conn = self.get_async().await.expect("a connection");
            hold(yields).await;
            drop(conn);
        }
    }

    /// deadpool's manager over the same connector.
    struct DeadpoolTcp(AsyncTcpConnector);

    impl deadpool::managed::Manager for DeadpoolTcp {
        type Type = TcpStream;
        type Error = io::Error;
        async fn create(&self) -> io::Result<TcpStream> {
            self.0.connect_async().await
        }
        async fn recycle(
            &self,
            stream: &mut TcpStream,
            _: &deadpool::managed::Metrics,
        ) -> deadpool::managed::RecycleResult<io::Error> {
            if AsyncTcpConnector::is_usable(stream) {
                Ok(())
            } else {
                Err(deadpool::managed::RecycleError::message("the server closed the connection"))
            }
        }
    }

    impl BenchPool for deadpool::managed::Pool<DeadpoolTcp> {
        fn build(addr: SocketAddr, max_size: usize, _runtime: &Runtime) -> Self {
            deadpool::managed::Pool::builder(DeadpoolTcp(AsyncTcpConnector::new(addr)))
                .max_size(max_size)
                .build()
                .expect("a valid pool size")
        }
        async fn get_and_return(&self, yields: usize) {
            let conn = self.get().await.expect("a connection");
            hold(yields).await;
            drop(conn);
        }
    }

    /// bb8's manager over the same connector.
    struct Bb8Tcp(AsyncTcpConnector);

    impl bb8::ManageConnection for Bb8Tcp {
        type Connection = TcpStream;
        type Error = io::Error;
        async fn connect(&self) -> io::Result<TcpStream> {
            self.0.connect_async().await
        }
        async fn is_valid(&self, stream: &mut TcpStream) -> io::Result<()> {
            if AsyncTcpConnector::is_usable(stream) {
                Ok(())
            } else {
                Err(io::Error::new(io::ErrorKind::ConnectionReset, "the server closed the connection"))
            }
        }
        fn has_broken(&self, _: &mut TcpStream) -> bool {
            false
        }
    }

    impl BenchPool for bb8::Pool<Bb8Tcp> {
        fn build(addr: SocketAddr, max_size: usize, runtime: &Runtime) -> Self {
            let max_size = u32::try_from(max_size).expect("a small pool");
            runtime
                .block_on(bb8::Pool::builder().max_size(max_size).build(Bb8Tcp(AsyncTcpConnector::new(addr))))
                .expect("bb8 opens its connections")
        }
        async fn get_and_return(&self, yields: usize) {
            let conn = self.get().await.expect("a connection");
            hold(yields).await;
            drop(conn);
        }
    }

    /// Opens every connection of the pool (all held at once), so samples never connect.
    fn warm_up<P: BenchPool>(pool: &P, size: usize, runtime: &Runtime) {
        runtime.block_on(async {
            let tasks: Vec<_> = (0..size)
                .map(|_| {
                    let pool = pool.clone();
                    tokio::spawn(async move { pool.get_and_return(16).await })
                })
                .collect();
            for task in tasks {
                task.await.expect("a warm-up task");
            }
        });
    }

    type Group<'a> = criterion::BenchmarkGroup<'a, criterion::measurement::WallTime>;

    /// One workload, run the same way on every contender.
    trait Workload {
        /// The bench group's name.
        const GROUP: &'static str;
        /// Builds a warmed-up pool of `P` on its own runtime and benches it as `id`.
        fn bench<P: BenchPool>(group: &mut Group<'_>, id: &str, server: &TestServer);
    }

    struct Uncontended;

    impl Workload for Uncontended {
        const GROUP: &'static str = "pool/get_return_uncontended";
        fn bench<P: BenchPool>(group: &mut Group<'_>, id: &str, server: &TestServer) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            let pool = P::build(server.addr(), UNCONTENDED_POOL, &runtime);
            warm_up(&pool, UNCONTENDED_POOL, &runtime);
            group.bench_function(BenchmarkId::new(id, UNCONTENDED_POOL), |b| {
                b.iter_custom(|iters| {
                    runtime.block_on(async {
                        let start = Instant::now();
                        for _ in 0..iters {
                            pool.get_and_return(0).await;
                        }
                        start.elapsed()
                    })
                })
            });
        }
    }

    struct Contended;

    impl Workload for Contended {
        const GROUP: &'static str = "pool/throughput_contended";
        fn bench<P: BenchPool>(group: &mut Group<'_>, id: &str, server: &TestServer) {
            let runtime =
                tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
            let pool = P::build(server.addr(), CONTENDED_POOL, &runtime);
            warm_up(&pool, CONTENDED_POOL, &runtime);
            group.bench_function(
                BenchmarkId::new(id, format!("{CONTENDED_TASKS}_tasks_{CONTENDED_POOL}_connections")),
                |b| {
                    b.iter_custom(|iters| {
                        let per_task = iters.div_ceil(CONTENDED_TASKS);
                        runtime.block_on(async {
                            let start = Instant::now();
                            let tasks: Vec<_> = (0..CONTENDED_TASKS)
                                .map(|_| {
                                    let pool = pool.clone();
                                    tokio::spawn(async move {
                                        for _ in 0..per_task {
                                            pool.get_and_return(1).await;
                                        }
                                    })
                                })
                                .collect();
                            for task in tasks {
                                task.await.expect("a bench task");
                            }
                            // Scaled to the `iters` criterion asked for (the tasks may do a few more).
                            start.elapsed().mul_f64(iters as f64 / (per_task * CONTENDED_TASKS) as f64)
                        })
                    })
                },
            );
        }
    }

    /// Runs workload `W` on racekit's pool, deadpool and bb8, one after another, against
    /// one server.
    fn compare<W: Workload>(c: &mut Criterion) {
        let server = TestServer::start().expect("a loopback listener");
        let mut group = c.benchmark_group(W::GROUP);
        group.throughput(Throughput::Elements(1)).measurement_time(Duration::from_secs(3));
        W::bench::<Pool<AsyncTcpConnector>>(&mut group, "racekit", &server);
        W::bench::<deadpool::managed::Pool<DeadpoolTcp>>(&mut group, "deadpool", &server);
        W::bench::<bb8::Pool<Bb8Tcp>>(&mut group, "bb8", &server);
        group.finish();
        server.stop();
    }

    criterion_group!(benches, compare::<Uncontended>, compare::<Contended>);
}

#[cfg(not(any(racekit_loom, racekit_shuttle)))]
criterion::criterion_main!(contenders::benches);

#[cfg(any(racekit_loom, racekit_shuttle))]
fn main() {}
